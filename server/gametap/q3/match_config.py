"""MatchConfig validation for OpenArena: every check names the field it rejects."""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from gametap.core.errors import InvalidArgument, ResourceExhausted
from gametap.q3 import abi, bsp, launch, spawns
from gametap.q3.game_data import GameData
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb

DEFAULT_MAP = "oa_dm1"
DEFAULT_KEYFRAME_INTERVAL = 100
DEFAULT_SERVER_FPS = 20
DEFAULT_BOT_SKILL = 3
MAX_SERVER_FPS = 1000
MAX_KEYFRAME_INTERVAL = 100_000
_MAP_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def validate(config: mpb.MatchConfig, data: GameData, rng: random.Random | None = None, *,
             entities: Callable[[str], Sequence[dict[str, str]]]) -> mpb.MatchConfig:
    """A copy of config with defaults filled in; raises InvalidArgument naming the bad field.
    entities(map): the map's entities that game types need (gametap.q3.spawns.map_entities)."""
    c = mpb.MatchConfig()
    c.CopyFrom(config)
    c.map = _map(c.map or DEFAULT_MAP, data)
    c.game_type = _enum(c.game_type or wpb.GAME_TYPE_FFA, wpb.GameType, "game_type")
    _objectives(c.map, c.game_type, entities)
    c.clock = _enum(c.clock or mpb.REALTIME, mpb.Clock, "clock")
    team_game = c.game_type - 1 >= abi.GT_TEAM and c.game_type - 1 != abi.GT_LMS
    if len(c.bots) > launch.MAX_BOT_PLAYERS:
        raise ResourceExhausted(f"{len(c.bots)} bots requested; the game module runs at most {launch.MAX_BOT_PLAYERS} "
                                "bots and agents' players in a match")
    for i, bot in enumerate(c.bots):
        _bot(bot, f"bots[{i}]", data, team_game)
    if not c.seed:
        c.seed = (rng or random.SystemRandom()).randrange(1, 2**31)
    c.keyframe_interval = _range(c.keyframe_interval or DEFAULT_KEYFRAME_INTERVAL, 1, MAX_KEYFRAME_INTERVAL, "keyframe_interval")
    c.frag_limit = _range(c.frag_limit, 0, 10_000, "frag_limit")
    c.capture_limit = _range(c.capture_limit, 0, 10_000, "capture_limit")
    c.time_limit_s = _range(c.time_limit_s, 0, 7 * 24 * 3600, "time_limit_s")
    if c.time_limit_s % 60:
        raise InvalidArgument("time_limit_s", f"{c.time_limit_s} is not a whole number of minutes (the game counts its time limit in minutes)")
    c.server_fps = _range(c.server_fps or DEFAULT_SERVER_FPS, 1, MAX_SERVER_FPS, "server_fps")
    if c.max_frames >= 2**63:  # the link's msgpack welcome carries it as a signed 64-bit integer
        raise InvalidArgument("max_frames", f"{c.max_frames} is not below 2^63")
    if c.hold_for_agents:
        if c.clock != mpb.LOCKSTEP:
            raise InvalidArgument("hold_for_agents", "only a LOCKSTEP game can hold for agents")
        _range(c.hold_for_agents, 0, abi.MAX_CLIENTS - len(c.bots), "hold_for_agents")
    return c


def _map(name: str, data: GameData) -> str:
    if not _MAP_NAME.match(name):
        raise InvalidArgument("map", f"{name[:80]!r} is not a map name (letters, digits, '_' and '-' only)")
    if name.lower() not in data.maps:
        raise InvalidArgument("map", f"unknown map {name!r}; installed maps: {', '.join(sorted(data.maps))}")
    return name.lower()


def _objectives(name: str, game_type: int, entities) -> None:
    """The map has what the game type is played for (its flags, its obelisks): without them the
    game would start, warn in its log and never be won."""
    if game_type not in spawns.NEEDED:
        return
    try:
        lacking = spawns.missing(list(entities(name)), game_type)
    except bsp.BspError as e:
        raise InvalidArgument("map", f"map {name} cannot be read: {e}") from None
    if lacking:
        raise InvalidArgument("game_type", f"{wpb.GameType.Name(game_type)} needs {' and '.join(lacking)}, and map "
                              f"{name} has no {' or '.join(lacking)} for it")


def _bot(bot: mpb.BotConfig, where: str, data: GameData, team_game: bool) -> None:
    spelled = data.bots.get(bot.name.lower())
    if spelled is None:
        raise InvalidArgument(f"{where}.name", f"unknown bot {bot.name[:40]!r}; known bots: {', '.join(sorted(data.bots.values()))}")
    bot.name = spelled
    bot.skill = _range(bot.skill or DEFAULT_BOT_SKILL, 1, 5, f"{where}.skill")
    team = _enum(bot.team, wpb.Team, f"{where}.team")
    if team == wpb.TEAM_SPECTATOR:
        raise InvalidArgument(f"{where}.team", "bots cannot be spectators")
    if team in (wpb.TEAM_RED, wpb.TEAM_BLUE) and not team_game:
        raise InvalidArgument(f"{where}.team", f"{wpb.Team.Name(team)} needs a team game type")


def _enum(value: int, enum_type, field: str) -> int:
    if value not in enum_type.values():
        raise InvalidArgument(field, f"{value} is not a valid {enum_type.DESCRIPTOR.name}")
    return value


def _range(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise InvalidArgument(field, f"{value} is outside {low}..{high}")
    return value
