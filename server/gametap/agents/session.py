"""AgentSession: one Play stream, the slots it drives and the observations it gets."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from gametap import wire
from gametap.agents import actions as act
from gametap.agents.views import FrameDeltaView, SpanView
from gametap.errors import InvalidArgument
from gametap.q3 import abi
from gametap.q3.game_data import GameData
from gametap.q3.v1 import world_pb2 as wpb
from gametap.q3.world import Update, WorldBuilder
from gametap.v1 import agent_pb2 as apb

DEFAULT_TIMEOUT_MS = 1000
MAX_FRAMES_PER_STEP = 1000
MAX_TIMEOUT_MS = 600_000
DEFAULT_BOT = "Sarge"
REALTIME_OUTBOX_LIMIT = 8  # observations queued for a slow REALTIME agent before it is resynced
_NAME = re.compile(r"^[A-Za-z0-9 _\-.()\[\]+]{1,31}$")


@dataclass
class Slot:
    name: str
    team: int            # gametap.q3.v1.Team
    pvs: bool
    bot: str
    skill: int
    client: int = -1     # known once the player appeared in the game
    view: SpanView | None = None  # PVS slots

    def addbot_command(self) -> str:
        team = {wpb.TEAM_RED: "red", wpb.TEAM_BLUE: "blue"}.get(self.team, "free")
        return f'addbot {self.bot} {self.skill} {team} 0 "{self.name}"'


def validate_join(req: apb.JoinRequest, data: GameData, team_game: bool) -> list[Slot]:
    """The slots a JoinRequest asks for; raises InvalidArgument naming the bad field."""
    if not 1 <= len(req.slots) <= abi.MAX_CLIENTS:
        raise InvalidArgument("slots", f"{len(req.slots)} slots asked for; 1..{abi.MAX_CLIENTS} allowed")
    if req.frames_per_step > MAX_FRAMES_PER_STEP:
        raise InvalidArgument("frames_per_step", f"{req.frames_per_step} is outside 0..{MAX_FRAMES_PER_STEP}")
    if req.action_timeout_ms > MAX_TIMEOUT_MS:
        raise InvalidArgument("action_timeout_ms", f"{req.action_timeout_ms} is outside 0..{MAX_TIMEOUT_MS}")
    slots = []
    for i, spec in enumerate(req.slots):
        where = f"slots[{i}]"
        if not _NAME.match(spec.name):
            raise InvalidArgument(f"{where}.name", f"{spec.name[:40]!r} is not 1..31 letters, digits, spaces or _-.()[]+")
        if spec.team not in wpb.Team.values() or spec.team == wpb.TEAM_SPECTATOR:
            raise InvalidArgument(f"{where}.team", f"{spec.team} is not a team an agent can play on")
        if spec.team in (wpb.TEAM_RED, wpb.TEAM_BLUE) and not team_game:
            raise InvalidArgument(f"{where}.team", f"{wpb.Team.Name(spec.team)} needs a team game type")
        if spec.visibility not in apb.Visibility.values():
            raise InvalidArgument(f"{where}.visibility", f"{spec.visibility} is not a Visibility")
        bot = data.bots.get((spec.bot or DEFAULT_BOT).lower())
        if bot is None:
            raise InvalidArgument(f"{where}.bot", f"unknown bot {spec.bot[:40]!r}")
        if not 0 <= spec.bot_skill <= 5:
            raise InvalidArgument(f"{where}.bot_skill", f"{spec.bot_skill} is outside 1..5")
        slots.append(Slot(name=spec.name, team=spec.team, pvs=spec.visibility == apb.PVS, bot=bot,
                          skill=spec.bot_skill or 3))
    names = [s.name for s in slots]
    if len(set(names)) != len(names):
        raise InvalidArgument("slots", "two slots of one stream have the same name")
    return slots


@dataclass(eq=False)
class AgentSession:
    slots: list[Slot]
    frames_per_step: int
    timeout_s: float
    realtime: bool
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    joined: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    active: bool = False       # every slot has its player in the game
    next_obs: int = 0          # the next observation is due at the first frame >= this
    last_obs: int | None = None
    acted: bool = True         # it answered the observation of last_obs
    left: list[int] = field(default_factory=list)  # slots lost since the last observation
    present_before: set[int] = field(default_factory=set)  # players in the game when it asked to join
    closed: bool = False
    _pvs_of: dict[int, bool] | None = None

    def __post_init__(self) -> None:
        full = [s for s in self.slots if not s.pvs]
        self.world_view = (FrameDeltaView() if self.frames_per_step == 1 else SpanView()) if full else None
        for s in self.slots:
            if s.pvs:
                s.view = SpanView()

    @property
    def clients(self) -> set[int]:
        return {s.client for s in self.slots if s.client >= 0}

    @property
    def pvs_of(self) -> dict[int, bool]:
        """client -> whether the slot reports what it sees (its PVS view)."""
        if self._pvs_of is None:
            self._pvs_of = {s.client: s.pvs for s in self.slots if s.client >= 0}
        return self._pvs_of

    def slots_changed(self) -> None:
        self._pvs_of = None

    def views(self):
        if self.world_view is not None:
            yield self.world_view
        yield from (s.view for s in self.slots if s.view is not None)

    def due(self, frame: int) -> bool:
        return self.active and not self.closed and frame >= self.next_obs

    def observe(self, builder: WorldBuilder, last: Update | None, teachers: dict[int, bytes],
                visible: dict[int, set[int]], final: bool = False, game_us: int = 0) -> None:
        """Queues the observation of the current frame for every slot."""
        if self.realtime and self.outbox.qsize() >= REALTIME_OUTBOX_LIMIT:
            for view in self.views():  # a slow agent: drop this one, resync with keyframes
                view.frame = None
            return
        frame = builder.frame
        parts = [wire.varint_field(1, frame), wire.varint_field(2, builder.level_time_ms)]
        if self.world_view is not None:
            parts.append(wire.bytes_field(3, self.world_view.observe(builder, last)))
        for s in self.slots:
            if s.client >= 0:
                parts.append(wire.bytes_field(4, self._slot_observation(s, builder, last, teachers, visible)))
        parts.append(wire.varint_field(5, final))
        parts.append(wire.packed_varints(6, self.left))
        parts.append(wire.varint_field(7, game_us))
        self.left = []
        self.outbox.put_nowait(wire.bytes_field(2, b"".join(parts)))  # PlayResponse.observation
        self.last_obs = frame
        self.next_obs = frame + self.frames_per_step
        self.acted = final

    @staticmethod
    def _slot_observation(s: Slot, builder, last, teachers, visible) -> bytes:
        parts = [wire.varint_field(1, s.client)]
        if s.view is not None:
            seen = visible.get(s.client, set()) | {s.client}
            parts.append(wire.bytes_field(2, s.view.observe(builder, last, seen)))
        usercmd, row = teachers.get(s.client), builder.player_row(s.client)
        if usercmd is not None and row is not None:
            parts.append(wire.bytes_field(3, act.teacher(s.client, usercmd, row.delta_angles)))
            parts.append(wire.varint_field(4, 1))
        return b"".join(parts)

    def joined_message(self, match_id: str, clock: int) -> bytes:
        joined = apb.Joined(match_id=match_id, clients=[s.client for s in self.slots],
                            frames_per_step=self.frames_per_step, clock=clock)
        return wire.bytes_field(1, joined.SerializeToString())  # PlayResponse.joined

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)
