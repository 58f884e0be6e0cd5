"""Fixed-size numpy features of one player's view of the world (for learning agents).

`encode(world, client)` returns a float32 vector of SIZE values, laid out as
LAYOUT says (also documented in docs/agents.md). Distances are in thousands of game
units; "forward"/"left" are relative to the player's view yaw, so the features
do not depend on where on the map the player stands or looks. Slots with
nothing in them (fewer players or items than K) are all zeros, including their
"present" flag. Every value lies within [-LIMIT, LIMIT].

This is the reference: the daemon computes the same tensor in C when an agent
asks for FEATURES observations (native/hotpath/features.c), and a test checks
that the two agree bit for bit. So every value is computed in double precision
and rounded to float32 once, and ties in distance go to the lower number.
The layout constants here are the one source of the C side's layout too
(native/gen_headers.py writes them into gametap_features.h).
"""
from __future__ import annotations

import math

import numpy as np

from gametap.q3.v1 import world_pb2 as wpb

NEAREST_PLAYERS = 4
NEAREST_ITEMS = 6
LIMIT = 10.0

SELF = ("health", "armor", "alive", "on_ground", "crouched", "x", "y", "z", "vx", "vy", "vz",
        "sin_yaw", "cos_yaw", "pitch", "weapon", "ammo", "score")
PLAYER = ("present", "forward", "left", "up", "distance", "health", "alive", "enemy")
ITEM = ("present", "forward", "left", "up", "distance", "is_weapon", "is_health", "is_armor", "is_other")
SIZE = len(SELF) + NEAREST_PLAYERS * len(PLAYER) + NEAREST_ITEMS * len(ITEM)

# (name, first index, count) of each block.
LAYOUT = (("self", 0, len(SELF)),
          ("players", len(SELF), NEAREST_PLAYERS * len(PLAYER)),
          ("items", len(SELF) + NEAREST_PLAYERS * len(PLAYER), NEAREST_ITEMS * len(ITEM)))

_ITEM_KIND = {wpb.ITEM_TYPE_WEAPON: 0, wpb.ITEM_TYPE_HEALTH: 1, wpb.ITEM_TYPE_ARMOR: 2}  # else 3 (other)


def _relative(point: wpb.Vec3, me: wpb.Player, cos_yaw: float, sin_yaw: float) -> tuple[float, ...]:
    """(forward, left, up, distance) of a point from my position, in my view frame."""
    dx = (point.x - me.origin.x) / 1000.0
    dy = (point.y - me.origin.y) / 1000.0
    dz = (point.z - me.origin.z) / 1000.0
    return dx * cos_yaw + dy * sin_yaw, -dx * sin_yaw + dy * cos_yaw, dz, math.sqrt(dx * dx + dy * dy + dz * dz)


def encode(world, client: int) -> np.ndarray:
    """Features of `client`'s view; all zeros if the client is not in the world.

    Args:
        world: A World (or anything with its `players` and `entities` dicts), e.g. a slot's view
            in AgentStream.views.
        client: The player's client number.

    Returns:
        A new float32 array of shape (SIZE,), laid out as LAYOUT: the player itself, then the
        NEAREST_PLAYERS nearest other players (spectators left out) and the NEAREST_ITEMS
        nearest items not hidden (waiting to respawn), nearest first; every value clipped to
        [-LIMIT, LIMIT].
    """
    out = np.zeros(SIZE, dtype=np.float32)
    me = world.players.get(client)
    if me is None:
        return out
    yaw = math.radians(me.view_angles.y)
    c, s = math.cos(yaw), math.sin(yaw)
    ammo = me.ammo[me.weapon] if 0 <= me.weapon < len(me.ammo) else 0
    out[: len(SELF)] = (
        me.health / 100, me.armor / 100, me.alive, me.on_ground, me.crouched,
        me.origin.x / 1000, me.origin.y / 1000, me.origin.z / 1000,
        me.velocity.x / 320, me.velocity.y / 320, me.velocity.z / 320,
        s, c, me.view_angles.x / 90, me.weapon / 13,
        1.0 if ammo < 0 else ammo / 100, me.score / 10,
    )
    others = [(_relative(p.origin, me, c, s), p) for p in world.players.values()
              if p.client != me.client and p.team != wpb.TEAM_SPECTATOR]
    others.sort(key=lambda rp: (rp[0][3], rp[1].client))
    first = LAYOUT[1][1]
    for k, (rel, p) in enumerate(others[:NEAREST_PLAYERS]):
        enemy = me.team == wpb.TEAM_FREE or p.team != me.team
        out[first + k * len(PLAYER):first + (k + 1) * len(PLAYER)] = (1.0, *rel, p.health / 100, p.alive, enemy)
    items = [(_relative(e.origin, me, c, s), e) for e in world.entities.values()
             if e.type == wpb.ENTITY_TYPE_ITEM and not e.hidden]
    items.sort(key=lambda re: (re[0][3], re[1].number))
    first = LAYOUT[2][1]
    for k, (rel, e) in enumerate(items[:NEAREST_ITEMS]):
        kind = [0.0] * 4
        kind[_ITEM_KIND.get(e.item_type, 3)] = 1.0
        out[first + k * len(ITEM):first + (k + 1) * len(ITEM)] = (1.0, *rel, *kind)
    np.clip(out, -LIMIT, LIMIT, out=out)
    return out
