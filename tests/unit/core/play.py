"""Helpers: fake matches in this process (a MatchManager, as a worker runs them) and agent
streams driven through the AgentHost, as the Play service drives them."""
from __future__ import annotations

import asyncio

from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.worker.manager import MatchManager
from gametap.worker.match import Match

TIMEOUT_S = 20.0  # a bound that only catches hangs: each test takes a second or two


def run(coro, timeout: float = TIMEOUT_S):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def lockstep(bots=("Sarge",), seed=7, **fields) -> mpb.MatchConfig:
    return mpb.MatchConfig(clock=mpb.LOCKSTEP, seed=seed, bots=[mpb.BotConfig(name=b) for b in bots], **fields)


def realtime(bots=("Sarge",), seed=7, **fields) -> mpb.MatchConfig:
    return mpb.MatchConfig(clock=mpb.REALTIME, seed=seed, bots=[mpb.BotConfig(name=b) for b in bots], **fields)


async def start(settings, config: mpb.MatchConfig) -> tuple[MatchManager, Match]:
    manager = MatchManager(settings)
    return manager, await manager.create(config)


async def ended(match: Match, timeout: float = 10.0) -> mpb.Match:
    await asyncio.wait_for(match.ended.wait(), timeout)
    return match.to_proto()


async def until(predicate, timeout: float = 5.0, what: str = "the condition"):
    """Polls predicate() on the loop until it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


class Agent:
    """One Play stream's side of a match: join, observations, actions, leave."""

    def __init__(self, match: Match, *names: str, **join):
        self.match = match
        request = apb.JoinRequest(match_id=match.id, slots=[apb.SlotSpec(name=n) for n in names or ("agent",)],
                                  **join)
        self.session = match.agents.join(request)
        self.clients: list[int] = []
        self.last: apb.Observation | None = None

    async def joined(self) -> list[int]:
        self.clients = await self.match.agents.wait_joined(self.session)
        return self.clients

    async def observe(self, timeout: float = 5.0) -> apb.Observation | None:
        """The next observation (None once the stream is closed)."""
        raw = await asyncio.wait_for(self.session.outbox.get(), timeout)
        self.last = None if raw is None else apb.PlayResponse.FromString(raw).observation
        return self.last

    def pending(self) -> int:
        """Observations queued and not read yet."""
        return self.session.outbox.qsize()

    def act(self, frame: int | None = None, **action) -> None:
        """Every slot still in does `action` (default: run forward), answering `frame` (default: the
        last observation)."""
        frame = self.last.frame if frame is None else frame
        clients = [s.client for s in self.session.slots if s.client >= 0]
        actions = [apb.Action(client=c, **(action or {"forward": 1.0})) for c in clients]
        self.match.agents.on_actions(self.session, apb.ActionBatch(frame=frame, actions=actions).SerializeToString())

    def leave(self, *clients: int) -> None:
        self.match.agents.leave(self.session, list(clients) or None)

    def close(self) -> None:
        self.match.agents.close_session(self.session)
