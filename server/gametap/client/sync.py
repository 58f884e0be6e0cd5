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
    (found in Match.placement), unless follow_matches is False or the worker cannot be reached."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout_s: float = 60.0, token: str | None = None,
                 follow_matches: bool = True, tls: ClientTls | str | bool | None = None):
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
        for channel in self._workers.values():
            channel.close()
        self.channel.close()

    def worker_of(self, match_id: str) -> str:
        """The address of the worker that runs the match ("": the daemon's address serves it)."""
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
        return self._token

    def data_channel(self, match_id: str) -> grpc.Channel:
        """The channel that serves this match's data plane: its worker's, or the daemon's."""
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
        return self._remember(self.matches.CreateMatch(mpb.CreateMatchRequest(config=config), timeout=self.timeout_s))

    def create_match_later(self, config: mpb.MatchConfig, placement_group: str = "") -> PendingMatch:
        """CreateMatch without waiting for it: .result() gives the Match (a game takes a while to start).
        Matches of one placement_group run in one worker."""
        request = mpb.CreateMatchRequest(config=config, placement_group=placement_group)
        return PendingMatch(self, self.matches.CreateMatch.future(request, timeout=self.timeout_s))

    def describe_game(self) -> mpb.GameDescription:
        """The maps, bots and player limits of the game the daemon hosts."""
        return self.matches.DescribeGame(mpb.DescribeGameRequest(), timeout=self.timeout_s)

    def list_matches(self, which: int = mpb.MATCH_FILTER_ALL) -> list[mpb.Match]:
        """which: mpb.MATCH_FILTER_ALL, _LIVE or _ENDED (archived matches from earlier runs included)."""
        request = mpb.ListMatchesRequest(filter=which)
        return list(self.matches.ListMatches(request, timeout=self.timeout_s).matches)

    def get_recording(self, match_id: str, verify: bool = False) -> arpb.RecordingInfo:
        """A recorded match's provenance; with verify, every record is read and checked."""
        request = arpb.GetRecordingRequest(match_id=match_id, verify=verify)
        return self.archive.GetRecording(request, timeout=max(self.timeout_s, 600.0) if verify else self.timeout_s)

    def download_recording(self, match_id: str, dest) -> Path:
        """Copies a match's recording from the daemon into the file dest (written whole or not at
        all: a partial download is removed); returns dest."""
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
        """Removes an ended match's folder from the daemon's archive; the bytes freed."""
        request = arpb.DeleteRecordingRequest(match_id=match_id)
        return self.archive.DeleteRecording(request, timeout=self.timeout_s).bytes_freed

    def get_match(self, match_id: str) -> mpb.Match:
        return self.matches.GetMatch(mpb.GetMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def wait_ended(self, match_id: str, timeout_s: float, what: str = "match") -> mpb.Match:
        """Polls until the match has ended (its recording is whole then); returns it. A
        TimeoutError after timeout_s names it as `what`."""
        deadline = time.monotonic() + timeout_s
        while (m := self.get_match(match_id)).status not in ENDED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {what} {match_id} did not end within {timeout_s:.0f} s")
            time.sleep(0.05)
        return m

    def stop_match(self, match_id: str) -> mpb.Match:
        return self.matches.StopMatch(mpb.StopMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def run_command(self, match_id: str, command: str) -> str:
        req = mpb.RunCommandRequest(match_id=match_id, command=command)
        return self.matches.RunCommand(req, timeout=self.timeout_s).output

    def _observe_at(self, match_id: str):
        channel = self.data_channel(match_id)
        return self.observe if channel is self.channel else observe_pb2_grpc.ObserveServiceStub(channel)

    def get_state(self, match_id: str) -> wpb.WorldState:
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
        (or leaving a for loop over it) ends the stream."""
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
        return self._client._remember(self._future.result())


# A worker that cannot be reached, or no longer runs the match: the daemon answers instead.
_ASK_THE_DAEMON = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
