"""Which of a map's entities the game spawns in a game type, and what each game type needs
there (its flags, its obelisks), read from the map's BSP (docs/abi.md, "Map files (BSP)").

The game (OA 0.8.8's G_SpawnGEntityFromSpawnVars, built without MISSIONPACK) drops an entity
with `notq3a` set, with `notteam` set in a team game type (every game type here is one), one
whose `gametype` does not name the game type and one whose `!gametype` does, by substring, as
its strstr does. A game type without what it needs starts anyway, with a warning in its log
("WARNING: No team_CTF_redflag in map"), and cannot be won. These rules and names gave the
game's own warnings on all 72 installed maps in every game type of NEEDED;
tests/integration/test_map_objectives.py checks a sample of them in every run.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from gametap.q3 import bsp
from gametap.q3.v1 import world_pb2 as wpb

_FLAGS = ("team_CTF_redflag", "team_CTF_blueflag")
_OBELISKS = ("team_redobelisk", "team_blueobelisk")
# game type -> (the name its maps' `gametype` keys use, what the game warns of when the map lacks it).
# CTF Elimination reads "ctf": flags marked "ctf oneflag dd" spawn in it. Domination is left
# out: its warning comes on every map, its points there or not.
NEEDED = {
    wpb.GAME_TYPE_CTF: ("ctf", _FLAGS),
    wpb.GAME_TYPE_ONE_FLAG_CTF: ("oneflag", (*_FLAGS, "team_CTF_neutralflag")),
    wpb.GAME_TYPE_OBELISK: ("obelisk", _OBELISKS),
    wpb.GAME_TYPE_HARVESTER: ("harvester", (*_OBELISKS, "team_neutralobelisk")),
    wpb.GAME_TYPE_CTF_ELIMINATION: ("ctf", _FLAGS),
    wpb.GAME_TYPE_DOUBLE_DOMINATION: ("dd", _FLAGS),  # its points A and B stand where the flags would
}
_KEYS = ("classname", "gametype", "!gametype", "notteam", "notq3a")
_CLASSES = frozenset(c for _, needed in NEEDED.values() for c in needed)
_ATOI = re.compile(r"\s*[+-]?\d+")


def spawned(entity: dict[str, str], game_type: int) -> bool:
    """Whether the game spawns this entity in game_type (a wpb.GameType of NEEDED)."""
    name = NEEDED[game_type][0]
    if _flag(entity, "notteam") or _flag(entity, "notq3a"):
        return False
    if "gametype" in entity and name not in entity["gametype"]:
        return False
    return "!gametype" not in entity or name not in entity["!gametype"]


def missing(entities: list[dict[str, str]], game_type: int) -> list[str]:
    """The entities game_type needs that none of `entities` gives it, in NEEDED's order."""
    if game_type not in NEEDED:
        return []
    have = {e.get("classname") for e in entities if spawned(e, game_type)}
    return [c for c in NEEDED[game_type][1] if c not in have]


@functools.lru_cache(maxsize=128)
def map_entities(basepath: Path, name: str) -> tuple[dict[str, str], ...]:
    """The entities of an installed map that some game type needs, with the keys that decide
    whether they spawn (read once per map: a BSP is megabytes). BspError if it cannot be read."""
    return tuple({k: e[k] for k in _KEYS if k in e} for e in bsp.entities(bsp.read_map(basepath, name))
                 if e.get("classname") in _CLASSES)


def _flag(entity: dict[str, str], key: str) -> bool:
    """G_SpawnInt's reading of a spawn flag: atoi of the value ("1", " 2x" are set; "0", "x" not)."""
    number = _ATOI.match(entity.get(key, ""))
    return number is not None and int(number.group()) != 0
