"""FakeObserver: one agent stream's views of a FakeWorld (the Observer of gametap.core.game).

Observations as the OpenArena hot path makes them: the whole world for the FULL slots (a
keyframe first, then the delta since the stream's last observation, its events included),
a view of its own for each PVS slot, feature tensors (gametap.client.features, the
reference the C code matches), and actions checked and turned into CONTROL records.
Not modelled: what a PVS slot cannot see (its view is the whole plane) and the teacher.
"""
from __future__ import annotations

import math
import struct

from google.protobuf.message import DecodeError

from gametap.client import features as feats
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp

ROW = struct.Struct(f"<{apb.ACTION_ROW_SIZE}f")
_WEAPONS = len(wpb.Weapon.values())


class View:
    """What a stream last sent of the world, so that its next observation is a delta."""

    def __init__(self):
        self.frame = -1  # of the last observation; -1: none yet (the next is a keyframe)
        self.players: dict[int, int] = {}   # client -> the version sent
        self.entities: dict[int, int] = {}
        self.match = 0
        self.events: list[wpb.Event] = []   # of the frames since the last observation

    def update(self, world) -> opb.WorldUpdate:
        out = opb.WorldUpdate()
        if self.frame < 0:
            out.keyframe.CopyFrom(world.state_message())
        else:
            d = out.delta
            d.SetInParent()
            d.frame, d.level_time_ms, d.base_frame = world.frame, world.level_time_ms, self.frame
            if world.match_version != self.match:
                d.match.CopyFrom(world.match)
            _changes(world.player_table, self.players, d.players, d.removed_players)
            _changes(world.entity_table, self.entities, d.entities, d.removed_entities)
            d.events.extend(self.events)
        self.frame, self.match, self.events = world.frame, world.match_version, []
        self.players, self.entities = dict(world.player_table.versions), dict(world.entity_table.versions)
        return out


def _changes(table, sent: dict[int, int], changed, removed) -> None:
    for key in sorted(table.versions):
        if sent.get(key) != table.versions[key]:
            changed.append(table.messages[key])
    removed.extend(sorted(set(sent) - set(table.versions)))


class FakeObserver:
    def __init__(self, world, frames_per_step: int, structured: bool = True, features: bool = False):
        self.world = world
        self.frames_per_step = max(1, frames_per_step)
        self.structured, self.features = structured, features
        self.slots: list[tuple[int, bool]] = []
        self._world_view: View | None = None       # the FULL slots'
        self._views: dict[int, View] = {}          # each PVS slot's, by client

    def set_slots(self, slots) -> None:
        self.slots = [(int(c), bool(pvs)) for c, pvs in slots]
        if any(c < -1 or c >= 64 for c, _ in self.slots):
            raise ValueError("a slot's client is outside -1..63")
        self._views = {c: self._views.get(c) or View() for c, pvs in self.slots if pvs and c >= 0 and self.structured}
        if self.structured and self._world_view is None and any(not pvs for _, pvs in self.slots):
            self._world_view = View()

    def collect(self, events: list[wpb.Event]) -> None:
        """A frame's events, for the views that observe later."""
        for view in (self._world_view, *self._views.values()):
            if view is not None and view.frame >= 0:
                view.events.extend(events)

    def resync(self) -> None:
        for view in (self._world_view, *self._views.values()):
            if view is not None:
                view.frame = -1

    def observe(self, final: bool, game_us: int, left) -> bytes:
        w = self.world
        obs = apb.Observation(frame=w.frame, level_time_ms=w.level_time_ms, final=final, left=list(left),
                              game_us=game_us)
        if self._world_view is not None:
            obs.world.CopyFrom(self._world_view.update(w))
        clients = [c for c, _ in self.slots if c >= 0]
        for client in clients:
            slot = obs.slots.add(client=client)
            if client in self._views:
                slot.view.CopyFrom(self._views[client].update(w))
        if self.features:
            snapshot = w.snapshot()
            obs.features = b"".join(feats.encode(snapshot, c).tobytes() for c in clients)
        return apb.PlayResponse(observation=obs).SerializeToString()

    # ---- actions ----

    def actions(self, batch: bytes) -> tuple[int, bytes]:
        try:
            parsed = apb.ActionBatch.FromString(batch)
        except DecodeError:
            raise ValueError("act", "the ActionBatch is not valid protobuf") from None
        seen: set[int] = set()
        records = [self._record("actions", i, a, seen) for i, a in enumerate(parsed.actions)]
        return parsed.frame, b"".join(records)

    def action_rows(self, rows: bytes) -> bytes:
        if len(rows) != len(self.slots) * ROW.size:
            raise ValueError("action_rows", f"{len(rows) // 4} values for {len(self.slots)} slots; "
                             f"expected {apb.ACTION_ROW_SIZE} per slot")
        seen: set[int] = set()
        out = []
        for i, (client, _) in enumerate(self.slots):
            forward, strafe, jump, yaw, pitch, attack, weapon = ROW.unpack_from(rows, i * ROW.size)
            if not (0 <= weapon < _WEAPONS and weapon == math.floor(weapon)):
                raise ValueError(f"action_rows[{i}].weapon", f"{weapon!r} is not a Weapon number (0..{_WEAPONS - 1})")
            if not math.isfinite(attack):
                raise ValueError(f"action_rows[{i}].attack", f"{attack!r} is not a number (> 0.5 fires)")
            if client >= 0:  # a slot whose player is not in yet has no action
                action = apb.Action(client=client, forward=forward, strafe=strafe, jump=jump, yaw=yaw, pitch=pitch,
                                    attack=attack > 0.5, weapon=int(weapon))
                out.append(self._record("action_rows", i, action, seen))
        return b"".join(out)

    def _record(self, where: str, i: int, a: apb.Action, seen: set[int]) -> bytes:
        """The CONTROL record of a checked action (ValueError(field, message) names what is wrong)."""
        def refuse(name: str, message: str):
            raise ValueError(f"{where}[{i}].{name}", message)
        mine = sorted(c for c, _ in self.slots if c >= 0)
        if a.client in seen:
            refuse("client", f"a second action for client {a.client} in one step")
        if a.client not in mine:
            refuse("client", f"{a.client} is not one of this stream's slots {mine}")
        for name in ("forward", "strafe", "jump"):
            if not -1.0 <= getattr(a, name) <= 1.0:  # NaN fails too
                refuse(name, f"{getattr(a, name)!r} is outside -1..1")
        if not abs(a.yaw) <= 1e6:
            refuse("yaw", f"{a.yaw!r} is not an angle within +-1e+06 degrees")
        if not abs(a.pitch) <= 90.0:
            refuse("pitch", f"{a.pitch!r} is not an angle within +-90 degrees")
        if not 0 <= a.weapon < _WEAPONS:
            refuse("weapon", f"{a.weapon} is not a Weapon")
        seen.add(a.client)
        pvs = dict(self.slots).get(a.client, False)
        return _action_record(a.client, pvs, a.weapon, a.forward, a.strafe, a.jump, a.attack, a.pitch, a.yaw)

    def hold_records(self) -> bytes:
        """Records that hold every slot still, looking where its player looks."""
        out = []
        for client, pvs in self.slots:
            player = self.world.player_table.messages.get(client)
            if player is not None:
                out.append(_action_record(client, pvs, 0, 0, 0, 0, False, player.view_angles.x, player.view_angles.y))
        return b"".join(out)


def _units(value: float) -> int:
    return max(-127, min(127, round(value * 127)))


def _angle(degrees: float) -> int:
    return int(degrees * 65536 / 360) & 0xFFFF


def _action_record(client, pvs, weapon, forward, strafe, jump, attack, pitch, yaw) -> bytes:
    flags = lp.ActionFlags.OVERRIDE | (lp.ActionFlags.VISIBILITY if pvs else 0)
    return lp.ACTION_RECORD.pack(client, flags, weapon, _units(forward), _units(strafe), _units(jump),
                                 1 if attack else 0, _angle(pitch), _angle(yaw), 0, 0)
