"""OpenArena 0.8.8 / ioquake3 binary interface: record layouts and enum values.

The one place where ABI facts live; docs/abi.md says where each comes from
(ioquake3 @70d07d9 and OpenArena gamecode @ddb8819). The numpy dtypes describe
the raw records libgametap_q3 copies out of the game. The C code (the preloaded
library and the daemon's hot path) uses the same facts through a header that
native/gen_headers.py generates from this module at build time: edit here only.
"""
from __future__ import annotations

import numpy as np

# The game module these tables describe (GNU build-id of Debian's qagamex86_64.so).
KNOWN_MODULES = {
    "e325b43c5d58aeec76bf731aedc9be03046c87e5": "OpenArena 0.8.8 (Debian openarena-server 0.8.8+dfsg-6)",
}
GENTITY_SIZE = 952
GCLIENT_SIZE = 2128
GENTITY_SHARED_OFFSET = 416  # gentity_t.r.linked: the entityShared_t fields the library copies start here

_VEC3 = ("<f4", (3,))

TRAJECTORY = np.dtype([
    ("trType", "<i4"), ("trTime", "<i4"), ("trDuration", "<i4"),
    ("trBase", _VEC3), ("trDelta", _VEC3),
])

ENTITY_STATE = np.dtype([
    ("number", "<i4"), ("eType", "<i4"), ("eFlags", "<i4"),
    ("pos", TRAJECTORY), ("apos", TRAJECTORY),
    ("time", "<i4"), ("time2", "<i4"),
    ("origin", _VEC3), ("origin2", _VEC3), ("angles", _VEC3), ("angles2", _VEC3),
    ("otherEntityNum", "<i4"), ("otherEntityNum2", "<i4"), ("groundEntityNum", "<i4"),
    ("constantLight", "<i4"), ("loopSound", "<i4"),
    ("modelindex", "<i4"), ("modelindex2", "<i4"), ("clientNum", "<i4"), ("frame", "<i4"),
    ("solid", "<i4"), ("event", "<i4"), ("eventParm", "<i4"), ("powerups", "<i4"),
    ("weapon", "<i4"), ("legsAnim", "<i4"), ("torsoAnim", "<i4"), ("generic1", "<i4"),
])

# entityShared_t from r.linked on (gentity_t bytes 416..515).
ENTITY_SHARED = np.dtype([
    ("linked", "<i4"), ("linkcount", "<i4"), ("svFlags", "<i4"), ("singleClient", "<i4"),
    ("bmodel", "<i4"), ("mins", _VEC3), ("maxs", _VEC3), ("contents", "<i4"),
    ("absmin", _VEC3), ("absmax", _VEC3), ("currentOrigin", _VEC3), ("currentAngles", _VEC3),
    ("ownerNum", "<i4"),
])

PLAYER_STATE = np.dtype([
    ("commandTime", "<i4"), ("pm_type", "<i4"), ("bobCycle", "<i4"), ("pm_flags", "<i4"),
    ("pm_time", "<i4"), ("origin", _VEC3), ("velocity", _VEC3), ("weaponTime", "<i4"),
    ("gravity", "<i4"), ("speed", "<i4"), ("delta_angles", ("<i4", (3,))),
    ("groundEntityNum", "<i4"), ("legsTimer", "<i4"), ("legsAnim", "<i4"),
    ("torsoTimer", "<i4"), ("torsoAnim", "<i4"), ("movementDir", "<i4"),
    ("grapplePoint", _VEC3), ("eFlags", "<i4"), ("eventSequence", "<i4"),
    ("events", ("<i4", (2,))), ("eventParms", ("<i4", (2,))),
    ("externalEvent", "<i4"), ("externalEventParm", "<i4"), ("externalEventTime", "<i4"),
    ("clientNum", "<i4"), ("weapon", "<i4"), ("weaponstate", "<i4"), ("viewangles", _VEC3),
    ("viewheight", "<i4"), ("damageEvent", "<i4"), ("damageYaw", "<i4"),
    ("damagePitch", "<i4"), ("damageCount", "<i4"),
    ("stats", ("<i4", (16,))), ("persistant", ("<i4", (16,))),
    ("powerups", ("<i4", (16,))), ("ammo", ("<i4", (16,))),
    ("generic1", "<i4"), ("loopSound", "<i4"), ("jumppad_ent", "<i4"), ("ping", "<i4"),
    ("pmove_framecount", "<i4"), ("jumppad_frame", "<i4"), ("entityEventSequence", "<i4"),
])

# usercmd_t: what a client (or a bot's AI) asks its player to do this frame.
USERCMD = np.dtype([
    ("serverTime", "<i4"), ("angles", ("<i4", (3,))), ("buttons", "<i4"),
    ("weapon", "u1"), ("forwardmove", "i1"), ("rightmove", "i1"), ("upmove", "i1"),
])

PLAYER_RECORD = np.dtype([("client", "<u2"), ("reserved", "<u2"), ("ps", PLAYER_STATE)])
ENTITY_RECORD = np.dtype([("number", "<u2"), ("reserved", "<u2"), ("s", ENTITY_STATE), ("r", ENTITY_SHARED)])

# Facts measured on the binary (docs/abi.md): if one of these fails, a layout above is wrong.
assert TRAJECTORY.itemsize == 36
assert PLAYER_STATE.itemsize == 468 and ENTITY_STATE.itemsize == 208 and ENTITY_SHARED.itemsize == 100
assert PLAYER_STATE.fields["origin"][1] == 20 and PLAYER_STATE.fields["stats"][1] == 184
assert PLAYER_STATE.fields["ping"][1] == 452
assert ENTITY_STATE.fields["modelindex"][1] == 160 and ENTITY_STATE.fields["generic1"][1] == 204
assert USERCMD.itemsize == 24
assert GENTITY_SHARED_OFFSET + ENTITY_SHARED.itemsize <= GENTITY_SIZE

# ---- indexes and enum values (OpenArena 0.8.8; docs/abi.md) ----
STAT_HEALTH, STAT_HOLDABLE_ITEM, STAT_PERSISTANT_POWERUP, STAT_WEAPONS, STAT_ARMOR = 0, 1, 2, 3, 4
PERS_SCORE, PERS_TEAM, PERS_KILLED = 0, 3, 8
NUM_WEAPONS = 14          # WP_NONE .. WP_CHAINGUN
NUM_POWERUPS = 15         # PW_NONE .. PW_INVULNERABILITY
PM_NORMAL, PM_SPECTATOR, PM_DEAD, PM_INTERMISSION = 0, 2, 3, 5
PMF_DUCKED = 1
EF_NODRAW = 0x80
SVF_NOCLIENT = 0x1
TEAM_FREE, TEAM_RED, TEAM_BLUE, TEAM_SPECTATOR = 0, 1, 2, 3
ET_ITEM, ET_MISSILE, ET_PLAYER, ET_EVENTS = 2, 3, 1, 13
ENTITYNUM_NONE, ENTITYNUM_WORLD = 1023, 1022
MAX_CLIENTS = 64
MAX_GENTITIES = 1024
MAX_CONFIGSTRINGS = 1024
MOD_GRAPPLE = 28
BUTTON_ATTACK = 1

GT_FFA, GT_TOURNAMENT, GT_TEAM, GT_LMS, GT_MAX_GAME_TYPE = 0, 1, 3, 10, 13

# Engine <-> game module calls the preloaded library makes or watches (docs/abi.md, "calls").
VM_GAME_INIT, VM_GAME_SHUTDOWN, VM_GAME_RUN_FRAME, VM_BOTAI_START_FRAME = 0, 1, 8, 10
VM_GAME_CLIENT_CONNECT, VM_GAME_CLIENT_BEGIN, VM_GAME_CLIENT_DISCONNECT = 2, 3, 5
G_PRINT, G_CVAR_VARIABLE_INTEGER_VALUE, G_SEND_CONSOLE_COMMAND, G_LOCATE_GAME_DATA = 0, 6, 14, 15
G_SET_CONFIGSTRING, G_GET_CONFIGSTRING, G_IN_PVS, G_GET_USERCMD = 18, 19, 26, 36
EXEC_APPEND = 2
BIG_INFO_STRING = 8192

# Configstring indexes.
CS_SERVERINFO, CS_WARMUP, CS_SCORES1, CS_SCORES2 = 0, 5, 6, 7
CS_LEVEL_START_TIME, CS_INTERMISSION = 21, 22
CS_MODELS, CS_PLAYERS = 32, 544
MAX_MODELS = 256

# bg_itemlist: (classname, giType) by index (s.modelindex of ET_ITEM entities).
ITEMS = [
    ("", 0), ("item_armor_shard", 3), ("item_armor_combat", 3), ("item_armor_body", 3),
    ("item_health_small", 4), ("item_health", 4), ("item_health_large", 4), ("item_health_mega", 4),
    ("weapon_gauntlet", 1), ("weapon_shotgun", 1), ("weapon_machinegun", 1),
    ("weapon_grenadelauncher", 1), ("weapon_rocketlauncher", 1), ("weapon_lightning", 1),
    ("weapon_railgun", 1), ("weapon_plasmagun", 1), ("weapon_bfg", 1), ("weapon_grapplinghook", 1),
    ("ammo_shells", 2), ("ammo_bullets", 2), ("ammo_grenades", 2), ("ammo_cells", 2),
    ("ammo_lightning", 2), ("ammo_rockets", 2), ("ammo_slugs", 2), ("ammo_bfg", 2),
    ("holdable_teleporter", 6), ("holdable_medkit", 6), ("item_quad", 5), ("item_enviro", 5),
    ("item_haste", 5), ("item_invis", 5), ("item_regen", 5), ("item_flight", 5),
    ("team_CTF_redflag", 8), ("team_CTF_blueflag", 8), ("holdable_kamikaze", 6),
    ("holdable_portal", 6), ("holdable_invulnerability", 6), ("ammo_nails", 2), ("ammo_mines", 2),
    ("ammo_belt", 2), ("item_scout", 7), ("item_guard", 7), ("item_doubler", 7),
    ("item_ammoregen", 7), ("team_CTF_neutralflag", 8), ("item_redcube", 8), ("item_bluecube", 8),
    ("weapon_nailgun", 1), ("weapon_prox_launcher", 1), ("weapon_chaingun", 1),
    ("team_DD_pointAblue", 8), ("team_DD_pointBblue", 8), ("team_DD_pointAred", 8),
    ("team_DD_pointBred", 8), ("team_DD_pointAwhite", 8), ("team_DD_pointBwhite", 8),
    ("team_dom_pointWhite", 8), ("team_dom_pointRed", 8), ("team_dom_pointBlue", 8), ("", 0),
]
assert len(ITEMS) == 62
