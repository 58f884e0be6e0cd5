"""Agent actions <-> the game's usercmd: validation, the CONTROL records, the teacher.

View angles travel as absolute angles in the game's 16-bit units; the library
subtracts the player's delta_angles when it writes the command, so an agent's
yaw/pitch are exactly the view it gets.
"""
from __future__ import annotations

import math
import struct

from gametap.errors import InvalidArgument
from gametap.link.protocol import ActionFlags
from gametap.q3 import abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb

BUTTON_ATTACK = 1
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


def validate(actions, slots: set[int]) -> None:
    """Raises InvalidArgument naming the first bad field of an ActionBatch's actions."""
    seen = set()
    for i, a in enumerate(actions):
        where = f"actions[{i}]"
        if a.client not in slots:
            raise InvalidArgument(f"{where}.client", f"{a.client} is not one of this stream's slots {sorted(slots)}")
        if a.client in seen:
            raise InvalidArgument(f"{where}.client", f"a second action for client {a.client} in one step")
        seen.add(a.client)
        for axis in _AXES:
            value = getattr(a, axis)
            if not -1.0 <= value <= 1.0:  # also false for NaN
                raise InvalidArgument(f"{where}.{axis}", f"{value} is outside -1..1")
        for angle, limit in (("yaw", 1e6), ("pitch", 90.0)):
            value = getattr(a, angle)
            if not math.isfinite(value) or abs(value) > limit:
                raise InvalidArgument(f"{where}.{angle}", f"{value} is not an angle within +-{limit:g} degrees")
        if not 0 <= a.weapon < abi.NUM_WEAPONS:
            raise InvalidArgument(f"{where}.weapon", f"{a.weapon} is not a Weapon")


def record(a: apb.Action, visibility: bool) -> tuple:
    """The CONTROL action record (without its reserved field) that makes the slot do `a`."""
    flags = ActionFlags.OVERRIDE | (ActionFlags.VISIBILITY if visibility else 0)
    return (a.client, flags, a.weapon, _move(a.forward), _move(a.strafe), _move(a.jump),
            BUTTON_ATTACK if a.attack else 0, angle_to_short(a.pitch), angle_to_short(a.yaw), 0)


def release_record(client: int) -> tuple:
    """Gives the slot back to its bot AI."""
    return (client, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def teacher(client: int, usercmd: bytes, delta_angles: list[int]) -> apb.Action:
    """What the bot AI's command means in agent terms."""
    _, a0, a1, _, buttons, weapon, forward, right, up = USERCMD.unpack(usercmd)
    return apb.Action(
        client=client, forward=forward / 127, strafe=right / 127, jump=max(-1.0, min(1.0, up / 127)),
        pitch=short_to_angle(a0 + delta_angles[0]), yaw=short_to_angle(a1 + delta_angles[1]),
        attack=bool(buttons & BUTTON_ATTACK), weapon=weapon if weapon < abi.NUM_WEAPONS else wpb.WEAPON_UNSPECIFIED,
    )
