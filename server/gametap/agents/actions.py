"""Agent actions <-> the game's usercmd: validation, the CONTROL records, the teacher.

View angles travel as absolute angles in the game's 16-bit units; the library
subtracts the player's delta_angles when it writes the command, so an agent's
yaw/pitch are exactly the view it gets.
"""
from __future__ import annotations

import struct

from gametap.errors import InvalidArgument
from gametap.link.protocol import ActionFlags
from gametap.q3 import abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb

BUTTON_ATTACK = 1
_OVERRIDE = ActionFlags.OVERRIDE
_OVERRIDE_PVS = ActionFlags.OVERRIDE | ActionFlags.VISIBILITY
USERCMD = struct.Struct("<i3iiBbbb")  # serverTime, angles[3], buttons, weapon, forward, right, up
_AXES = ("forward", "strafe", "jump")


def angle_to_short(degrees: float) -> int:
    return int(degrees * 65536 / 360) & 0xFFFF


def short_to_angle(units: int) -> float:
    """Degrees in -180..180."""
    degrees = (units & 0xFFFF) * 360.0 / 65536
    return degrees - 360.0 if degrees > 180.0 else degrees


def _move(value: float) -> int:
    return max(-127, min(127, round(value * 127)))


def records(actions, pvs_of: dict[int, bool]) -> list[tuple]:
    """The CONTROL action records (without their reserved field) that make the slots do
    `actions`; pvs_of maps each of the stream's slots to whether it reports visibility.
    Raises InvalidArgument naming the first bad field."""
    out, seen = [], set()
    for i, a in enumerate(actions):
        client, forward, strafe, jump = a.client, a.forward, a.strafe, a.jump
        yaw, pitch, weapon = a.yaw, a.pitch, a.weapon
        pvs = pvs_of.get(client)
        if pvs is None or client in seen:
            _refuse(i, "client", client, pvs_of, seen)
        seen.add(client)
        if not (-1.0 <= forward <= 1.0 and -1.0 <= strafe <= 1.0 and -1.0 <= jump <= 1.0):  # NaN fails too
            axis, value = next((n, v) for n, v in zip(_AXES, (forward, strafe, jump)) if not -1.0 <= v <= 1.0)
            raise InvalidArgument(f"actions[{i}].{axis}", f"{value} is outside -1..1")
        if not (abs(yaw) <= 1e6 and abs(pitch) <= 90.0):  # NaN and infinities fail too
            name, value, limit = ("yaw", yaw, 1e6) if not abs(yaw) <= 1e6 else ("pitch", pitch, 90.0)
            raise InvalidArgument(f"actions[{i}].{name}", f"{value} is not an angle within +-{limit:g} degrees")
        if not 0 <= weapon < abi.NUM_WEAPONS:
            raise InvalidArgument(f"actions[{i}].weapon", f"{weapon} is not a Weapon")
        out.append((client, _OVERRIDE_PVS if pvs else _OVERRIDE, weapon, _move(forward), _move(strafe), _move(jump),
                    BUTTON_ATTACK if a.attack else 0, angle_to_short(pitch), angle_to_short(yaw), 0))
    return out


def _refuse(i: int, field: str, client: int, pvs_of: dict, seen: set):
    if client in seen:
        raise InvalidArgument(f"actions[{i}].{field}", f"a second action for client {client} in one step")
    raise InvalidArgument(f"actions[{i}].{field}", f"{client} is not one of this stream's slots {sorted(pvs_of)}")


def record(a: apb.Action, visibility: bool) -> tuple:
    """The CONTROL action record of one (valid) action."""
    return records([a], {a.client: visibility})[0]


def release_record(client: int) -> tuple:
    """Gives the slot back to its bot AI."""
    return (client, 0, 0, 0, 0, 0, 0, 0, 0, 0)


# Action: client 1 (varint), forward 2, strafe 3, jump 4, yaw 5, pitch 6 (floats), attack 7, weapon 8 (varints).
_TEACHER = struct.Struct("<BBBfBfBfBfBfBBBB")


def teacher(client: int, usercmd: bytes, delta_angles) -> bytes:
    """What the bot AI's command means in agent terms: a serialized Action."""
    _, a0, a1, _, buttons, weapon, forward, right, up = USERCMD.unpack(usercmd)
    return _TEACHER.pack(
        0x08, client, 0x15, forward / 127, 0x1D, right / 127, 0x25, max(-1.0, min(1.0, up / 127)),
        0x2D, short_to_angle(a1 + delta_angles[1]), 0x35, short_to_angle(a0 + delta_angles[0]),
        0x38, buttons & BUTTON_ATTACK, 0x40, weapon if weapon < abi.NUM_WEAPONS else wpb.WEAPON_UNSPECIFIED)
