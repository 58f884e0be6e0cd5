"""Raw ABI records -> serialized gametap.q3.v1 Player and Entity messages.

Each record becomes a row of plain Python values (one struct call, its layout
derived from the numpy dtypes of gametap.q3.abi); a row plus what the
configstrings say about its player gives the serialized message.
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


class RecordReader:
    """Reads chosen fields of fixed-size records with one struct call per record.

    The layout comes from the numpy structured dtype in gametap.q3.abi (the one
    place the ABI is written down); `index` maps each field to its position(s)
    in the flat tuple a record unpacks to.
    """

    _CODES = {"<i4": "i", "<f4": "f", "<u2": "H"}

    def __init__(self, dtype: np.dtype, fields: list[str]):
        found = []

        def walk(dt: np.dtype, base: int, prefix: str) -> None:
            for name, (sub, offset) in dt.fields.items():
                if prefix + name in fields:
                    found.append((base + offset, prefix + name, sub))
                elif sub.fields:
                    walk(sub, base + offset, prefix + name + ".")

        walk(dtype, 0, "")
        if len(found) != len(fields):
            raise ValueError(f"fields not in {dtype}: {set(fields) - {f[1] for f in found}}")
        fmt, pos, flat, self.index = "<", 0, 0, {}
        for offset, name, sub in sorted(found, key=lambda f: f[0]):
            count = int(np.prod(sub.shape)) if sub.shape else 1
            fmt += "x" * (offset - pos) + f"{count}{self._CODES[(sub.base if sub.shape else sub).str]}"
            self.index[name] = flat if not sub.shape else slice(flat, flat + count)
            pos, flat = offset + sub.itemsize, flat + count
        self.struct = struct.Struct(fmt + "x" * (dtype.itemsize - pos))
        assert self.struct.size == dtype.itemsize

    def rows(self, buf: bytes):
        return self.struct.iter_unpack(buf) if buf else ()


_PLAYER = RecordReader(abi.PLAYER_RECORD, [
    "client", "ps.pm_type", "ps.pm_flags", "ps.origin", "ps.velocity", "ps.delta_angles",
    "ps.groundEntityNum", "ps.weapon", "ps.viewangles", "ps.stats", "ps.persistant", "ps.powerups",
    "ps.ammo", "ps.ping"])
_ENTITY = RecordReader(abi.ENTITY_RECORD, [
    "number", "s.eType", "s.eFlags", "s.pos.trDelta", "s.modelindex", "s.clientNum", "s.weapon",
    "r.linked", "r.svFlags", "r.currentOrigin", "r.currentAngles", "r.ownerNum"])


class PlayerRow(NamedTuple):
    client: int
    origin: tuple
    velocity: tuple
    viewangles: tuple
    stats: tuple       # STAT_HEALTH .. STAT_ARMOR
    score: int
    team: int
    deaths: int
    weapon: int
    ammo: tuple
    powerups: list     # indexes of active powerups
    pm_type: int
    pm_flags: int
    ground: int
    ping: int
    delta_angles: tuple  # what the game adds to usercmd angles (16-bit units)


class EntityRow(NamedTuple):
    number: int
    linked: int
    etype: int
    eflags: int
    svflags: int
    origin: tuple
    angles: tuple
    modelindex: int
    owner: int
    weapon: int
    velocity: tuple
    client: int


def _player_row_maker():
    i = _PLAYER.index
    stats, pers, powerups, ammo = i["ps.stats"], i["ps.persistant"], i["ps.powerups"], i["ps.ammo"]
    pw0 = powerups.start
    picks = (i["client"], i["ps.origin"], i["ps.velocity"], i["ps.viewangles"])
    tail = (i["ps.weapon"], i["ps.pm_type"], i["ps.pm_flags"], i["ps.groundEntityNum"], i["ps.ping"], i["ps.delta_angles"])
    stats = slice(stats.start, stats.start + abi.STAT_ARMOR + 1)
    ammo = slice(ammo.start, ammo.start + abi.NUM_WEAPONS)
    score, team, deaths = (pers.start + k for k in (abi.PERS_SCORE, abi.PERS_TEAM, abi.PERS_KILLED))

    def make(t: tuple) -> PlayerRow:
        pw = t[pw0:pw0 + abi.NUM_POWERUPS]
        return PlayerRow(t[picks[0]], t[picks[1]], t[picks[2]], t[picks[3]], t[stats], t[score], t[team],
                         t[deaths], t[tail[0]], t[ammo], [k for k, v in enumerate(pw) if v] if any(pw) else [],
                         t[tail[1]], t[tail[2]], t[tail[3]], t[tail[4]], t[tail[5]])
    return make


def _entity_row_maker():
    order = ("number", "r.linked", "s.eType", "s.eFlags", "r.svFlags", "r.currentOrigin", "r.currentAngles",
             "s.modelindex", "r.ownerNum", "s.weapon", "s.pos.trDelta", "s.clientNum")
    picks = [_ENTITY.index[name] for name in order]
    return lambda t: EntityRow._make([t[k] for k in picks])


_make_player = _player_row_maker()
_make_entity = _entity_row_maker()


def player_rows(buf: bytes) -> list[PlayerRow]:
    return [_make_player(t) for t in _PLAYER.rows(buf)]


def entity_rows(buf: bytes) -> list[EntityRow]:
    return [_make_entity(t) for t in _ENTITY.rows(buf)]


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


def _vec(v: pb.Vec3, xyz: list) -> None:
    v.x, v.y, v.z = xyz


_SCRATCH = pb.Player()  # reused: the daemon builds one message at a time
_AMMO: dict[tuple, bytes] = {}  # serialized Player.ammo field by value (few distinct values occur)


def _ammo_field(ammo: tuple) -> bytes:
    field = _AMMO.get(ammo)
    if field is None:
        if len(_AMMO) > 4096:
            _AMMO.clear()
        field = _AMMO[ammo] = pb.Player(ammo=ammo).SerializeToString()
    return field


def player_bytes(row: PlayerRow, info: PlayerInfo, controller: int | None) -> bytes:
    controller = controller or (_CONTROLLER_BOT if info.is_bot else _CONTROLLER_HUMAN)
    stats, team = row.stats, row.team
    health = stats[abi.STAT_HEALTH]
    p = _SCRATCH
    p.Clear()
    p.team = team + 1
    if health:
        p.health = health
        p.alive = health > 0 and team != abi.TEAM_SPECTATOR and row.pm_type not in (abi.PM_SPECTATOR, abi.PM_DEAD)
    if stats[abi.STAT_ARMOR]:
        p.armor = stats[abi.STAT_ARMOR]
    if row.weapon:
        p.weapon = row.weapon
    if stats[abi.STAT_WEAPONS]:
        p.weapons_owned = stats[abi.STAT_WEAPONS] & 0xFFFFFFFF
    if row.score:
        p.score = row.score
    if row.deaths:
        p.deaths = row.deaths
    if row.pm_flags & abi.PMF_DUCKED:
        p.crouched = True
    if row.ground != abi.ENTITYNUM_NONE:
        p.on_ground = True
    if row.ping:
        p.ping_ms = row.ping
    if row.powerups:
        p.powerups.extend(row.powerups)
    o, v, a = row.origin, row.velocity, row.viewangles
    return b"".join((info.prefix(row.client, controller), p.SerializeToString(), _ammo_field(row.ammo),
                     _PLAYER_VECTORS.pack(0x2A, 15, 0x0D, o[0], 0x15, o[1], 0x1D, o[2],
                                          0x32, 15, 0x0D, v[0], 0x15, v[1], 0x1D, v[2],
                                          0x3A, 15, 0x0D, a[0], 0x15, a[1], 0x1D, a[2])))


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
