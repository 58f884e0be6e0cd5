"""A blocking client for the daemon's gRPC services."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from gametap.client import auth
from gametap.client import tls as client_tls
from gametap.client.placement import worker_address
from gametap.client.tls import ClientTls
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import archive_pb2_grpc, match_pb2_grpc, observe_pb2_grpc
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)  # a match's final statuses

DEFAULT_ADDRESS = "127.0.0.1:50051"


class Client:
    """MatchService at the daemon; Watch, GetState and Play at the worker that runs the match
    (found in Match.placement), unless follow_matches is False or the worker cannot be reached.

    Every call raises grpc.RpcError with the daemon's status: UNAUTHENTICATED (no token, or an
    unknown one) and PERMISSION_DENIED (the token's role is too low: creating, stopping, commands
    and deleting need admin) on any call, UNAVAILABLE when the daemon cannot be reached,
    DEADLINE_EXCEEDED after timeout_s; the methods list the statuses of their own."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout_s: float = 60.0, token: str | None = None,
                 follow_matches: bool = True, tls: ClientTls | str | bool | None = None):
        """Opens the channel to the daemon (lazily: nothing is sent until the first call).

        Args:
            address: The daemon's HOST:PORT.
            timeout_s: The deadline of each unary call, in seconds (streams have none).
            token: The access token sent as `authorization: Bearer`; None: $GAMETAP_TOKEN, if set.
            follow_matches: Watch, GetState and Play go to the worker that runs the match (on the
                daemon's host, at Match.placement's port); False: everything goes through the daemon.
            tls: A ClientTls, a CA file's path, True (the system's CAs) or False (plain); None:
                from $GAMETAP_TLS_CA, $GAMETAP_TLS_CERT, $GAMETAP_TLS_KEY and $GAMETAP_TLS
                (gametap.client.tls).

        Raises:
            ValueError: tls names a client certificate without its key, or a key without its certificate.
            OSError: a file tls names cannot be read.
        """
        self.address = address
        self.timeout_s = timeout_s
        self._token = token
        self.tls = client_tls.resolve(tls)  # gametap.client.tls: None takes $GAMETAP_TLS_CA and the like
        self.channel = auth.channel(address, token, self.tls)  # token: $GAMETAP_TOKEN when not given
        self.matches = match_pb2_grpc.MatchServiceStub(self.channel)
        self.observe = observe_pb2_grpc.ObserveServiceStub(self.channel)
        self.archive = archive_pb2_grpc.ArchiveServiceStub(self.channel)
        self.follow_matches = follow_matches
        self._workers: dict[str, grpc.Channel] = {}  # worker address -> channel
        self._placed: dict[str, str] = {}  # match id -> its worker's address

    def close(self) -> None:
        """Closes the channels to the daemon and the workers; calls in progress are cancelled."""
        for channel in self._workers.values():
            channel.close()
        self.channel.close()

    def worker_of(self, match_id: str) -> str:
        """The address of the worker that runs the match ("": the daemon's address serves it).

        Asks the daemon (GetMatch) the first time for a match this client did not create; the
        answer is kept for the client's life.

        Args:
            match_id: The match's id.

        Returns:
            The worker's HOST:PORT; "" when follow_matches is False, the match names no worker,
            or GetMatch failed (the error is not raised: the daemon's address answers for it).
        """
        if not self.follow_matches:
            return ""
        address = self._placed.get(match_id)
        if address is None:
            try:
                address = worker_address(self.address, self.get_match(match_id)) or ""
            except grpc.RpcError:
                address = ""  # the daemon answers for the match (or says why not)
            self._placed[match_id] = address
        return address

    @property
    def token(self) -> str | None:
        """The token given to the constructor (None if it was left to $GAMETAP_TOKEN)."""
        return self._token

    def data_channel(self, match_id: str) -> grpc.Channel:
        """The channel that serves this match's data plane: its worker's, or the daemon's.

        Args:
            match_id: The match's id.

        Returns:
            A channel to the match's worker (opened once per worker, with this client's token and
            TLS), or self.channel when worker_of(match_id) is "".
        """
        address = self.worker_of(match_id)
        if not address:
            return self.channel
        if address not in self._workers:
            self._workers[address] = auth.channel(address, self._token, self.tls)
        return self._workers[address]

    def _remember(self, match: mpb.Match) -> mpb.Match:
        self._placed[match.id] = worker_address(self.address, match) or ""
        return match

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def create_match(self, config: mpb.MatchConfig) -> mpb.Match:
        """Starts a match; blocks until its worker has started the game process.

        Args:
            config: The match to run; fields left unset take the daemon's defaults.

        Returns:
            The new match, its config as run (defaults filled in): status STARTING or RUNNING, or
            FAILED with Match.failure if the game could not start.

        Raises:
            grpc.RpcError: INVALID_ARGUMENT (a bad config field, named in the details),
                RESOURCE_EXHAUSTED (the daemon's [limits] matches are live, or a REALTIME match
                finds no free UDP port), UNAVAILABLE (no worker process runs, or it did not answer).
        """
        return self._remember(self.matches.CreateMatch(mpb.CreateMatchRequest(config=config), timeout=self.timeout_s))

    def create_match_later(self, config: mpb.MatchConfig, placement_group: str = "") -> PendingMatch:
        """CreateMatch without waiting for it: .result() gives the Match (a game takes a while to start).
        Matches of one placement_group run in one worker.

        Args:
            config: The match to run, as for create_match.
            placement_group: 1..64 letters, digits or -_.; "" lets the daemon pick the least loaded worker.

        Returns:
            A PendingMatch; errors (those of create_match, and INVALID_ARGUMENT for a bad
            placement_group) are raised by its result().
        """
        request = mpb.CreateMatchRequest(config=config, placement_group=placement_group)
        return PendingMatch(self, self.matches.CreateMatch.future(request, timeout=self.timeout_s))

    def describe_game(self) -> mpb.GameDescription:
        """The maps, bots and player limits of the game the daemon hosts.

        Returns:
            The game's GameDescription.
        """
        return self.matches.DescribeGame(mpb.DescribeGameRequest(), timeout=self.timeout_s)

    def list_matches(self, which: int = mpb.MATCH_FILTER_ALL) -> list[mpb.Match]:
        """The matches the daemon knows: live ones first, then ended ones, newest first.

        Args:
            which: mpb.MATCH_FILTER_ALL, _LIVE (STARTING or RUNNING) or _ENDED (archived matches
                from earlier runs included).

        Returns:
            The matches, each as GetMatch gives it.
        """
        request = mpb.ListMatchesRequest(filter=which)
        return list(self.matches.ListMatches(request, timeout=self.timeout_s).matches)

    def get_recording(self, match_id: str, verify: bool = False) -> arpb.RecordingInfo:
        """A recorded match's provenance; with verify, every record is read and checked.

        Args:
            match_id: The match's id.
            verify: Read every record; the outcome is in RecordingInfo.check. The deadline is then
                at least 600 s.

        Returns:
            The recording's size and provenance (and with verify, its check).

        Raises:
            grpc.RpcError: NOT_FOUND (no match or recording with that id), FAILED_PRECONDITION
                (the file cannot be read as a recording).
        """
        request = arpb.GetRecordingRequest(match_id=match_id, verify=verify)
        return self.archive.GetRecording(request, timeout=max(self.timeout_s, 600.0) if verify else self.timeout_s)

    def download_recording(self, match_id: str, dest) -> Path:
        """Copies a match's recording from the daemon into the file dest (written whole or not at
        all: a partial download is removed); returns dest.

        Blocks until the whole file has come (the stream's deadline is at least 600 s). The bytes
        go through dest + ".part", which then replaces dest.

        Args:
            match_id: The match's id. A live match's recording is copied as far as it is written;
                wait_ended first for the whole one.
            dest: A path (str or os.PathLike); an existing file there is replaced.

        Returns:
            dest, as a Path.

        Raises:
            grpc.RpcError: NOT_FOUND (no match or recording with that id).
            OSError: dest cannot be written.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        try:
            with open(part, "wb") as f:
                for chunk in self.archive.ReadRecording(arpb.ReadRecordingRequest(match_id=match_id),
                                                        timeout=max(self.timeout_s, 600.0)):
                    f.write(chunk.data)
            part.replace(dest)
        finally:
            part.unlink(missing_ok=True)
        return dest

    def delete_recording(self, match_id: str) -> int:
        """Removes an ended match's folder from the daemon's archive; the bytes freed.

        Args:
            match_id: The match's id.

        Returns:
            The bytes the removed files took.

        Raises:
            grpc.RpcError: NOT_FOUND (no recording with that id), FAILED_PRECONDITION (the match
                is still running: stop_match first).
        """
        request = arpb.DeleteRecordingRequest(match_id=match_id)
        return self.archive.DeleteRecording(request, timeout=self.timeout_s).bytes_freed

    def get_match(self, match_id: str) -> mpb.Match:
        """A match's status, as its worker reports it now (or as it was last seen).

        Args:
            match_id: The match's id.

        Returns:
            The match; for one that ended before this daemon run, what its recording says (archived).

        Raises:
            grpc.RpcError: NOT_FOUND (the daemon knows no match with that id).
        """
        return self.matches.GetMatch(mpb.GetMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def wait_ended(self, match_id: str, timeout_s: float, what: str = "match") -> mpb.Match:
        """Polls until the match has ended (its recording is whole then); returns it. A
        TimeoutError after timeout_s names it as `what`.

        Blocks, asking GetMatch every 50 ms.

        Args:
            match_id: The match's id.
            timeout_s: How long to wait, in seconds.
            what: The name of the match in the TimeoutError's message.

        Returns:
            The match, its status FINISHED, STOPPED or FAILED.

        Raises:
            TimeoutError: The match has not ended within timeout_s.
            grpc.RpcError: As get_match (NOT_FOUND for an unknown id).
        """
        deadline = time.monotonic() + timeout_s
        while (m := self.get_match(match_id)).status not in ENDED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {what} {match_id} did not end within {timeout_s:.0f} s")
            time.sleep(0.05)
        return m

    def stop_match(self, match_id: str) -> mpb.Match:
        """Ends the match's game process (console quit, then SIGTERM, then SIGKILL) and waits for it
        to exit; the match keeps its final state. An ended match is left as it is.

        Args:
            match_id: The match's id.

        Returns:
            The match (status STOPPED, or the status it had ended with).

        Raises:
            grpc.RpcError: NOT_FOUND (no match with that id).
        """
        return self.matches.StopMatch(mpb.StopMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def run_command(self, match_id: str, command: str) -> str:
        """Runs one server console command in the match's game.

        Args:
            match_id: The match's id.
            command: e.g. "addbot Sarge 3" or "fraglimit 5".

        Returns:
            What the server printed while running it.

        Raises:
            grpc.RpcError: NOT_FOUND (no match with that id), FAILED_PRECONDITION (the match is
                not running).
        """
        req = mpb.RunCommandRequest(match_id=match_id, command=command)
        return self.matches.RunCommand(req, timeout=self.timeout_s).output

    def _observe_at(self, match_id: str):
        channel = self.data_channel(match_id)
        return self.observe if channel is self.channel else observe_pb2_grpc.ObserveServiceStub(channel)

    def get_state(self, match_id: str) -> wpb.WorldState:
        """The match's whole world now, from its worker; a match whose worker is gone (it ended)
        is answered by the daemon, from its recording's last state.

        Args:
            match_id: The match's id.

        Returns:
            The current WorldState.

        Raises:
            grpc.RpcError: NOT_FOUND (no match with that id, or an ended one without a recording).
        """
        request = opb.GetStateRequest(match_id=match_id)
        try:
            return self._observe_at(match_id).GetState(request, timeout=self.timeout_s).state
        except grpc.RpcError as e:
            if e.code() not in _ASK_THE_DAEMON or not self._placed.get(match_id):
                raise
            return self.observe.GetState(request, timeout=self.timeout_s).state  # the daemon knows the rest

    def watch(self, match_id: str, max_batch: int = 1, from_frame: int = 0) -> Iterator[opb.WorldUpdate]:
        """Every update of a match, in order, until it ends (a keyframe first). from_frame > 0
        starts at that past frame, replayed from the match's recording. Closing the iterator
        (or leaving a for loop over it) ends the stream.

        A generator: nothing is sent until the first next(); each next() blocks until an update
        comes. A match whose worker cannot be reached, or no longer runs it, is replayed by the
        daemon from its recording. Apply the updates to a World to follow the match's state.

        Args:
            match_id: The match's id.
            max_batch: Up to this many updates per message when the watcher is behind (0 or 1:
                one per message; at most 4096). The updates come one by one either way.
            from_frame: 0: live, from the current frame (a match the daemon no longer lists is
                replayed from its first frame). N > 0: from frame N (its state there as the
                keyframe); a live match then goes on live.

        Yields:
            WorldUpdate: A keyframe first, then the deltas that follow it.

        Raises:
            grpc.RpcError: While iterating: NOT_FOUND (no match or recording with that id),
                FAILED_PRECONDITION (from_frame > 0 for a match that is not recorded), OUT_OF_RANGE
                (from_frame ahead of the live match), RESOURCE_EXHAUSTED (the [limits] of watch
                streams).
        """
        request = opb.WatchRequest(match_id=match_id, max_batch=max_batch, from_frame=from_frame)
        responses = self._observe_at(match_id).Watch(request)
        try:
            first = next(responses, None)
        except grpc.RpcError as e:
            if e.code() not in _ASK_THE_DAEMON or not self._placed.get(match_id):
                raise
            responses, first = self.observe.Watch(request), None  # its worker is gone: the daemon replays it
        try:
            if first is not None:
                yield from first.updates
            for response in responses:
                yield from response.updates
        finally:
            responses.cancel()


class PendingMatch:
    """A CreateMatch on its way (Client.create_match_later)."""

    def __init__(self, client: Client, future: grpc.Future):
        self._client = client
        self._future = future

    def result(self) -> mpb.Match:
        """Blocks until CreateMatch answers (its deadline: timeout_s from create_match_later).

        Returns:
            The new match, as create_match gives it.

        Raises:
            grpc.RpcError: As create_match; INVALID_ARGUMENT for a bad placement_group.
        """
        return self._client._remember(self._future.result())


# A worker that cannot be reached, or no longer runs the match: the daemon answers instead.
_ASK_THE_DAEMON = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
