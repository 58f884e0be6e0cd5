"""Raw ABI records -> serialized gametap.q3.v1 Player and Entity messages.

Records are decoded in batches with numpy (one frombuffer and one column
extraction per batch of frames), then each record becomes a row of plain
Python values; a row plus what the configstrings say about its player gives
the serialized message.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gametap.q3 import abi
from gametap.q3.v1 import world_pb2 as pb

_CONTROLLER_BOT = pb.CONTROLLER_BOT
_CONTROLLER_HUMAN = pb.CONTROLLER_HUMAN


class PlayerRow(NamedTuple):
    client: int
    origin: list
    velocity: list
    viewangles: list
    stats: list        # STAT_HEALTH .. STAT_ARMOR
    score: int
    team: int
    deaths: int
    weapon: int
    ammo: list
    powerups: list     # indexes of active powerups
    pm_type: int
    pm_flags: int
    ground: int
    ping: int
    delta_angles: list  # what the game adds to usercmd angles (16-bit units)


class EntityRow(NamedTuple):
    number: int
    linked: int
    etype: int
    eflags: int
    svflags: int
    origin: list
    angles: list
    modelindex: int
    owner: int
    weapon: int
    velocity: list
    client: int


@dataclass(slots=True)
class PlayerInfo:
    """What CS_PLAYERS+client says about a slot."""

    name: str
    skill: int
    is_bot: bool
    _prefix: tuple[int, int, bytes] | None = None  # (client, controller, serialized fields)

    def prefix(self, client: int, controller: int) -> bytes:
        """The Player fields that change only with the configstring, serialized once."""
        if self._prefix is None or self._prefix[:2] != (client, controller):
            fields = pb.Player(client=client, name=self.name, controller=controller, skill=self.skill)
            self._prefix = (client, controller, fields.SerializeToString())
        return self._prefix[2]


# Player.origin (5), .velocity (6), .view_angles (7): each a 15-byte Vec3 {x=1, y=2, z=3}.
# Concatenated serialized fields of one message type parse as one message.
_PLAYER_VECTORS = struct.Struct("<" + "BBBfBfBf" * 3)


def player_rows(buf: bytes) -> list[PlayerRow]:
    if not buf:
        return []
    rec = np.frombuffer(buf, abi.PLAYER_RECORD)
    ps = rec["ps"]
    stats, pers = ps["stats"], ps["persistant"]
    powerups = ps["powerups"][:, : abi.NUM_POWERUPS]
    active = [np.flatnonzero(row).tolist() if any_on else [] for row, any_on in
              zip(powerups, powerups.any(axis=1).tolist())]
    return list(map(PlayerRow._make, zip(
        rec["client"].tolist(), ps["origin"].tolist(), ps["velocity"].tolist(),
        ps["viewangles"].tolist(), stats[:, : abi.STAT_ARMOR + 1].tolist(),
        pers[:, abi.PERS_SCORE].tolist(), pers[:, abi.PERS_TEAM].tolist(),
        pers[:, abi.PERS_KILLED].tolist(), ps["weapon"].tolist(),
        ps["ammo"][:, : abi.NUM_WEAPONS].tolist(), active, ps["pm_type"].tolist(),
        ps["pm_flags"].tolist(), ps["groundEntityNum"].tolist(), ps["ping"].tolist(),
        ps["delta_angles"].tolist(),
    )))


def entity_rows(buf: bytes) -> list[EntityRow]:
    if not buf:
        return []
    rec = np.frombuffer(buf, abi.ENTITY_RECORD)
    s, r = rec["s"], rec["r"]
    return list(map(EntityRow._make, zip(
        rec["number"].tolist(), r["linked"].tolist(), s["eType"].tolist(), s["eFlags"].tolist(),
        r["svFlags"].tolist(), r["currentOrigin"].tolist(), r["currentAngles"].tolist(),
        s["modelindex"].tolist(), r["ownerNum"].tolist(), s["weapon"].tolist(),
        s["pos"]["trDelta"].tolist(), s["clientNum"].tolist(),
    )))


def _vec(v: pb.Vec3, xyz: list) -> None:
    v.x, v.y, v.z = xyz


def player_bytes(row: PlayerRow, info: PlayerInfo, controller: int | None) -> bytes:
    controller = controller or (_CONTROLLER_BOT if info.is_bot else _CONTROLLER_HUMAN)
    health, team = row.stats[abi.STAT_HEALTH], row.team
    p = pb.Player(
        team=team + 1, health=health, armor=row.stats[abi.STAT_ARMOR], weapon=row.weapon,
        weapons_owned=row.stats[abi.STAT_WEAPONS] & 0xFFFFFFFF, score=row.score,
        alive=health > 0 and team != abi.TEAM_SPECTATOR
        and row.pm_type not in (abi.PM_SPECTATOR, abi.PM_DEAD),
        deaths=row.deaths, crouched=bool(row.pm_flags & abi.PMF_DUCKED),
        on_ground=row.ground != abi.ENTITYNUM_NONE, ping_ms=row.ping, ammo=row.ammo,
        powerups=row.powerups,
    )
    o, v, a = row.origin, row.velocity, row.viewangles
    return info.prefix(row.client, controller) + p.SerializeToString() + _PLAYER_VECTORS.pack(
        0x2A, 15, 0x0D, o[0], 0x15, o[1], 0x1D, o[2],
        0x32, 15, 0x0D, v[0], 0x15, v[1], 0x1D, v[2],
        0x3A, 15, 0x0D, a[0], 0x15, a[1], 0x1D, a[2])


def entity_bytes(row: EntityRow, configstrings: dict[int, str]) -> bytes:
    etype = row.etype
    e = pb.Entity(
        number=row.number, owner=-1 if row.owner == abi.ENTITYNUM_NONE else row.owner,
        hidden=bool(row.eflags & abi.EF_NODRAW or row.svflags & abi.SVF_NOCLIENT),
    )
    if etype >= abi.ET_EVENTS:
        e.type = pb.ENTITY_TYPE_EVENT
        e.event = (etype - abi.ET_EVENTS) & 0xFF
    else:
        e.type = etype + 1
    _vec(e.origin, row.origin)
    _vec(e.angles, row.angles)
    if etype == abi.ET_ITEM:
        if 0 < row.modelindex < len(abi.ITEMS):
            e.item, gi_type = abi.ITEMS[row.modelindex]
            e.item_type = gi_type + 1
    elif 0 < row.modelindex < abi.MAX_MODELS:
        e.model = configstrings.get(abi.CS_MODELS + row.modelindex, "")
    if etype == abi.ET_MISSILE:
        e.weapon = row.weapon if 0 <= row.weapon < abi.NUM_WEAPONS else 0
        _vec(e.velocity, row.velocity)
    elif etype == abi.ET_PLAYER:
        e.client = row.client
    return e.SerializeToString()
