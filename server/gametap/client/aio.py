"""An asyncio client for the daemon's gRPC services (the AsyncAgentStream plays)."""
from __future__ import annotations

from collections.abc import AsyncIterator

from gametap.client import auth
from gametap.client.sync import DEFAULT_ADDRESS
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import match_pb2_grpc, observe_pb2_grpc
from gametap.v1 import observe_pb2 as opb


class AsyncClient:
    """`async with AsyncClient(address) as c: match = await c.create_match(config)`."""

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout_s: float = 60.0, token: str | None = None):
        self.address = address
        self.timeout_s = timeout_s
        self.channel = auth.aio_channel(address, token)  # token: $GAMETAP_TOKEN when not given
        self.matches = match_pb2_grpc.MatchServiceStub(self.channel)
        self.observe = observe_pb2_grpc.ObserveServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def create_match(self, config: mpb.MatchConfig) -> mpb.Match:
        return await self.matches.CreateMatch(mpb.CreateMatchRequest(config=config), timeout=self.timeout_s)

    async def list_matches(self) -> list[mpb.Match]:
        return list((await self.matches.ListMatches(mpb.ListMatchesRequest(), timeout=self.timeout_s)).matches)

    async def get_match(self, match_id: str) -> mpb.Match:
        return await self.matches.GetMatch(mpb.GetMatchRequest(match_id=match_id), timeout=self.timeout_s)

    async def stop_match(self, match_id: str) -> mpb.Match:
        return await self.matches.StopMatch(mpb.StopMatchRequest(match_id=match_id), timeout=self.timeout_s)

    async def run_command(self, match_id: str, command: str) -> str:
        req = mpb.RunCommandRequest(match_id=match_id, command=command)
        return (await self.matches.RunCommand(req, timeout=self.timeout_s)).output

    async def get_state(self, match_id: str) -> wpb.WorldState:
        return (await self.observe.GetState(opb.GetStateRequest(match_id=match_id), timeout=self.timeout_s)).state

    async def watch(self, match_id: str, max_batch: int = 1, from_frame: int = 0) -> AsyncIterator[opb.WorldUpdate]:
        """Every update of a match, in order, until it ends (a keyframe first). from_frame > 0
        starts at that past frame, replayed from the match's recording."""
        async for response in self.observe.Watch(opb.WatchRequest(match_id=match_id, max_batch=max_batch, from_frame=from_frame)):
            for update in response.updates:
                yield update
