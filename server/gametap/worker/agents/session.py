"""AgentSession: one Play stream, the slots it drives and the observations it gets.

The stream's observations are made by its Observer (the game's hot path, in C): this
class keeps only the stream's place in the lockstep gate and its outgoing queue.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from gametap.core.game import Observer, Slot
from gametap.v1 import agent_pb2 as apb

REALTIME_OUTBOX_LIMIT = 8  # observations queued for a slow REALTIME agent before it is resynced
_WORLD_KINDS = (apb.OBSERVATION_KIND_UNSPECIFIED, apb.WORLD, apb.WORLD_AND_FEATURES)
_FEATURE_KINDS = (apb.FEATURES, apb.WORLD_AND_FEATURES)


def wants_world(kind: int) -> bool:
    return kind in _WORLD_KINDS


def wants_features(kind: int) -> bool:
    return kind in _FEATURE_KINDS


class Outbox:
    """What the stream's writer sends next: a queue with one waiting reader (lighter than asyncio.Queue)."""

    def __init__(self) -> None:
        self._items: deque = deque()
        self._waiter: asyncio.Future | None = None
        self._loop = asyncio.get_running_loop()  # once: asking for it costs a system call

    def put(self, item) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        while not self._items:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def qsize(self) -> int:
        return len(self._items)


@dataclass(eq=False)
class AgentSession:
    slots: list[Slot]
    frames_per_step: int
    timeout_s: float
    realtime: bool
    observer: Observer
    observation: int = apb.WORLD  # the ObservationKind asked for
    outbox: Outbox = field(default_factory=Outbox)
    joined: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    active: bool = False       # every slot has its player in the game
    next_obs: int = 0          # the next observation is due at the first frame >= this
    last_obs: int | None = None
    acted: bool = True         # it answered the observation of last_obs
    left: list[int] = field(default_factory=list)  # slots lost since the last observation
    closed: bool = False
    counted: bool = False  # held in the worker's limits.play (AgentHost.join .. close_session)
    stream: int = 0        # its number in the match's recording (1, 2, ... in join order)
    request: apb.JoinRequest | None = None  # as it asked to join (recorded when its slots are in)
    asked: tuple[int, bool, bool] = (0, False, False)  # (frame, the game was held, by hold_for_agents) when it asked
    observed_at: float = 0.0  # perf_counter() of its last observation (gametap.core.metrics' step times)
    acted_at: float = 0.0     # ... of its last actions, until the observation that answers them

    @property
    def clients(self) -> set[int]:
        return {s.client for s in self.slots if s.client >= 0}

    def slots_changed(self) -> None:
        self.observer.set_slots([(s.client, s.pvs) for s in self.slots])

    def due(self, frame: int) -> bool:
        return self.active and not self.closed and frame >= self.next_obs

    def observe(self, frame: int, final: bool = False, game_us: int = 0) -> bool:
        """Queues the observation of the current frame (`frame`) for every slot; False if it
        was dropped instead (a slow REALTIME agent)."""
        if self.realtime and self.outbox.qsize() >= REALTIME_OUTBOX_LIMIT:
            self.observer.resync()  # a slow agent: drop this one, resync with keyframes
            return False
        self.outbox.put(self.observer.observe(final, game_us, self.left))
        self.observed_at = time.perf_counter()
        self.left = []
        self.last_obs = frame
        self.next_obs = frame + self.frames_per_step
        self.acted = final
        return True

    def joined_proto(self, match_id: str, clock: int, feature_size: int) -> apb.Joined:
        return apb.Joined(match_id=match_id, clients=[s.client for s in self.slots],
                          frames_per_step=self.frames_per_step, clock=clock, observation=self.observation,
                          feature_size=feature_size if wants_features(self.observation) else 0)

    def joined_message(self, match_id: str, clock: int, feature_size: int) -> bytes:
        return apb.PlayResponse(joined=self.joined_proto(match_id, clock, feature_size)).SerializeToString()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put(None)
