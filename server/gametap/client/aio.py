"""An asyncio client for the daemon's gRPC services (the AsyncAgentStream plays)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from gametap.client import auth
from gametap.client import tls as client_tls
from gametap.client.placement import worker_address
from gametap.client.sync import DEFAULT_ADDRESS
from gametap.client.tls import ClientTls
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import match_pb2_grpc, observe_pb2_grpc
from gametap.v1 import observe_pb2 as opb


class AsyncClient:
    """`async with AsyncClient(address) as c: match = await c.create_match(config)`.
    Like Client, it watches and plays a match at the worker that runs it.

    The methods are Client's, awaited: they raise grpc.aio.AioRpcError (a grpc.RpcError) with the
    statuses Client's methods of the same names list."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout_s: float = 60.0, token: str | None = None,
                 follow_matches: bool = True, tls: ClientTls | str | bool | None = None):
        """Opens a grpc.aio channel to the daemon; make it inside the event loop that uses it.

        Args:
            address: The daemon's HOST:PORT.
            timeout_s: The deadline of each unary call, in seconds (streams have none).
            token: The access token; None: $GAMETAP_TOKEN, if set.
            follow_matches: Watch, GetState and Play go to the match's worker; False: all through the daemon.
            tls: As Client's (a ClientTls, a CA file's path, True, False; None: from the environment).

        Raises:
            ValueError, OSError: As Client's, for the TLS files.
        """
        self.address = address
        self.timeout_s = timeout_s
        self._token = token
        self.tls = client_tls.resolve(tls)  # gametap.client.tls: None takes $GAMETAP_TLS_CA and the like
        self.channel = auth.aio_channel(address, token, self.tls)  # token: $GAMETAP_TOKEN when not given
        self.matches = match_pb2_grpc.MatchServiceStub(self.channel)
        self.observe = observe_pb2_grpc.ObserveServiceStub(self.channel)
        self.follow_matches = follow_matches
        self._workers: dict[str, grpc.aio.Channel] = {}
        self._placed: dict[str, str] = {}

    async def close(self) -> None:
        """Closes the channels to the daemon and the workers; calls in progress are cancelled."""
        for channel in self._workers.values():
            await channel.close()
        await self.channel.close()

    async def data_channel(self, match_id: str) -> grpc.aio.Channel:
        """The channel that serves this match's data plane: its worker's, or the daemon's.

        Asks the daemon (GetMatch) the first time for a match this client did not create; the
        answer is kept, and a failed GetMatch counts as "the daemon serves it".

        Args:
            match_id: The match's id.

        Returns:
            A channel to the match's worker (one per worker), or self.channel.
        """
        if not self.follow_matches:
            return self.channel
        address = self._placed.get(match_id)
        if address is None:
            try:
                address = worker_address(self.address, await self.get_match(match_id)) or ""
            except grpc.RpcError:
                address = ""
            self._placed[match_id] = address
        if not address:
            return self.channel
        if address not in self._workers:
            self._workers[address] = auth.aio_channel(address, self._token, self.tls)
        return self._workers[address]

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def create_match(self, config: mpb.MatchConfig) -> mpb.Match:
        """Starts a match, as Client.create_match.

        Args:
            config: The match to run.

        Returns:
            The new match (STARTING or RUNNING; FAILED if its game could not start).

        Raises:
            grpc.RpcError: INVALID_ARGUMENT, RESOURCE_EXHAUSTED or UNAVAILABLE, as Client.create_match.
        """
        match = await self.matches.CreateMatch(mpb.CreateMatchRequest(config=config), timeout=self.timeout_s)
        self._placed[match.id] = worker_address(self.address, match) or ""
        return match

    async def describe_game(self) -> mpb.GameDescription:
        """The maps, bots and player limits of the game the daemon hosts.

        Returns:
            The game's GameDescription.
        """
        return await self.matches.DescribeGame(mpb.DescribeGameRequest(), timeout=self.timeout_s)

    async def list_matches(self) -> list[mpb.Match]:
        """Every match the daemon knows (MATCH_FILTER_ALL): live ones first, then ended ones, newest first.

        Returns:
            The matches.
        """
        return list((await self.matches.ListMatches(mpb.ListMatchesRequest(), timeout=self.timeout_s)).matches)

    async def get_match(self, match_id: str) -> mpb.Match:
        """A match's status, as Client.get_match.

        Args:
            match_id: The match's id.

        Returns:
            The match, as its worker reports it now (or as it was last seen, or archived).

        Raises:
            grpc.RpcError: NOT_FOUND for an id the daemon does not know.
        """
        return await self.matches.GetMatch(mpb.GetMatchRequest(match_id=match_id), timeout=self.timeout_s)

    async def stop_match(self, match_id: str) -> mpb.Match:
        """Ends the match's game process and waits for it to exit, as Client.stop_match.

        Args:
            match_id: The match's id.

        Returns:
            The match, STOPPED (an ended one as it ended).

        Raises:
            grpc.RpcError: NOT_FOUND for an unknown id.
        """
        return await self.matches.StopMatch(mpb.StopMatchRequest(match_id=match_id), timeout=self.timeout_s)

    async def run_command(self, match_id: str, command: str) -> str:
        """Runs one server console command in the match's game, as Client.run_command.

        Args:
            match_id: The match's id.
            command: e.g. "addbot Sarge 3".

        Returns:
            What the server printed while running it.

        Raises:
            grpc.RpcError: NOT_FOUND, or FAILED_PRECONDITION (the match is not running).
        """
        req = mpb.RunCommandRequest(match_id=match_id, command=command)
        return (await self.matches.RunCommand(req, timeout=self.timeout_s)).output

    async def get_state(self, match_id: str) -> wpb.WorldState:
        """The match's whole world now, from its worker (or, its worker gone, from the daemon).

        Args:
            match_id: The match's id.

        Returns:
            The current WorldState (an ended match's: its recording's last state).

        Raises:
            grpc.RpcError: NOT_FOUND, as Client.get_state.
        """
        request = opb.GetStateRequest(match_id=match_id)
        stub = observe_pb2_grpc.ObserveServiceStub(await self.data_channel(match_id))
        try:
            return (await stub.GetState(request, timeout=self.timeout_s)).state
        except grpc.RpcError as e:
            if stub is self.observe or e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
                raise
            return (await self.observe.GetState(request, timeout=self.timeout_s)).state

    async def watch(self, match_id: str, max_batch: int = 1, from_frame: int = 0) -> AsyncIterator[opb.WorldUpdate]:
        """Every update of a match, in order, until it ends (a keyframe first). from_frame > 0
        starts at that past frame, replayed from the match's recording.

        An async generator; the stream goes to the match's worker only (no fallback to the daemon
        if the worker is gone, unlike Client.watch).

        Args:
            match_id: The match's id.
            max_batch: Updates per message when the watcher is behind (they come one by one either way).
            from_frame: 0: live; N > 0: from frame N, as Client.watch.

        Yields:
            WorldUpdate: A keyframe first, then the deltas that follow it.

        Raises:
            grpc.RpcError: While iterating: NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE or
                RESOURCE_EXHAUSTED, as Client.watch.
        """
        request = opb.WatchRequest(match_id=match_id, max_batch=max_batch, from_frame=from_frame)
        stub = observe_pb2_grpc.ObserveServiceStub(await self.data_channel(match_id))
        async for response in stub.Watch(request):
            for update in response.updates:
                yield update
