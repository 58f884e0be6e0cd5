"""Fixed-size numpy features of one player's view of the world (for learning agents).

`encode(world, client)` returns a float32 vector of SIZE values, laid out as
LAYOUT says (also documented in the README). Distances are in thousands of game
units; "forward"/"left" are relative to the player's view yaw, so the features
do not depend on where on the map the player stands or looks. Slots with
nothing in them (fewer players or items than K) are all zeros, including their
"present" flag. Every value lies within [-LIMIT, LIMIT].
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


def _relative(points: np.ndarray, me: wpb.Player) -> np.ndarray:
    """(forward, left, up, distance) of points (N x 3) from my position, in my view frame."""
    d = (points - np.array([me.origin.x, me.origin.y, me.origin.z], dtype=np.float32)) / 1000.0
    yaw = math.radians(me.view_angles.y)
    c, s = math.cos(yaw), math.sin(yaw)
    fwd = d[:, 0] * c + d[:, 1] * s
    left = -d[:, 0] * s + d[:, 1] * c
    return np.stack([fwd, left, d[:, 2], np.linalg.norm(d, axis=1)], axis=1)


def encode(world, client: int) -> np.ndarray:
    """Features of `client`'s view; all zeros if the client is not in the world."""
    out = np.zeros(SIZE, dtype=np.float32)
    me = world.players.get(client)
    if me is None:
        return out
    yaw = math.radians(me.view_angles.y)
    ammo = me.ammo[me.weapon] if me.weapon < len(me.ammo) else 0
    out[: len(SELF)] = (
        me.health / 100, me.armor / 100, me.alive, me.on_ground, me.crouched,
        me.origin.x / 1000, me.origin.y / 1000, me.origin.z / 1000,
        me.velocity.x / 320, me.velocity.y / 320, me.velocity.z / 320,
        math.sin(yaw), math.cos(yaw), me.view_angles.x / 90, me.weapon / 13,
        1.0 if ammo < 0 else ammo / 100, me.score / 10,
    )
    _nearest_players(out[LAYOUT[1][1]:LAYOUT[2][1]], world, me)
    _nearest_items(out[LAYOUT[2][1]:], world, me)
    np.clip(out, -LIMIT, LIMIT, out=out)
    return out


def _nearest_players(block: np.ndarray, world, me: wpb.Player) -> None:
    others = [p for p in world.players.values() if p.client != me.client and p.team != wpb.TEAM_SPECTATOR]
    if not others:
        return
    rel = _relative(np.array([[p.origin.x, p.origin.y, p.origin.z] for p in others], dtype=np.float32), me)
    rows = block.reshape(NEAREST_PLAYERS, len(PLAYER))
    for row, i in zip(rows, np.argsort(rel[:, 3])[:NEAREST_PLAYERS]):
        p = others[i]
        enemy = me.team == wpb.TEAM_FREE or p.team != me.team
        row[:] = (1.0, *rel[i], p.health / 100, p.alive, enemy)


def _nearest_items(block: np.ndarray, world, me: wpb.Player) -> None:
    items = [e for e in world.entities.values() if e.type == wpb.ENTITY_TYPE_ITEM and not e.hidden]
    if not items:
        return
    rel = _relative(np.array([[e.origin.x, e.origin.y, e.origin.z] for e in items], dtype=np.float32), me)
    rows = block.reshape(NEAREST_ITEMS, len(ITEM))
    for row, i in zip(rows, np.argsort(rel[:, 3])[:NEAREST_ITEMS]):
        kind = np.zeros(4, dtype=np.float32)
        kind[_ITEM_KIND.get(items[i].item_type, 3)] = 1.0
        row[:] = (1.0, *rel[i], *kind)
