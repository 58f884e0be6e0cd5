"""The game's text: configstring info strings, player names, and log lines -> events."""
from __future__ import annotations

import re

from gametap.q3 import abi
from gametap.q3.decode import PlayerInfo
from gametap.q3.v1 import world_pb2 as pb

_COLOUR = re.compile(r"\^[^\^]")
_KILL = re.compile(r"^Kill: (\d+) (\d+) (\d+):")
_ITEM = re.compile(r"^Item: (\d+) (\S+)")
_SAY = re.compile(r"^(say|sayteam): (.*?): (.*)$")
_EXIT = re.compile(r"^Exit: (.*)$")


def parse_info(text: str) -> dict[str, str]:
    """An info string "\\key\\value\\key\\value" as a dict."""
    parts = text.split("\\")
    if parts and parts[0] == "":
        parts = parts[1:]
    return dict(zip(parts[0::2], parts[1::2]))


def strip_colours(name: str) -> str:
    return _COLOUR.sub("", name)


def to_int(text: str, default: int = 0) -> int:
    try:
        return round(float(text))
    except (TypeError, ValueError, OverflowError):
        return default


class LineSplitter:
    """Joins the game's printed text into whole lines (a print may end mid-line)."""

    def __init__(self) -> None:
        self._carry = ""

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        lines = (self._carry + text).split("\n")
        self._carry = lines.pop()
        return lines


def event_from_line(line: str, client_by_name: dict[str, int]) -> pb.Event | None:
    """The event a game log line reports, if any (kills, item pickups, chat)."""
    if m := _KILL.match(line):
        attacker, victim, mod = (int(g) for g in m.groups())
        return pb.Event(kill=pb.Kill(
            attacker=-1 if attacker >= abi.MAX_CLIENTS else attacker, victim=victim,
            means_of_death=mod if 0 <= mod <= abi.MOD_GRAPPLE else 0))
    if m := _ITEM.match(line):
        return pb.Event(item_pickup=pb.ItemPickup(client=int(m.group(1)), item=m.group(2)))
    if m := _SAY.match(line):
        name = strip_colours(m.group(2))
        return pb.Event(chat=pb.Chat(client=client_by_name.get(name, -1), name=name,
                                     text=m.group(3), team_only=m.group(1) == "sayteam"))
    return None


# The console command the game issues when its limits end the level (ExitLevel);
# in the same frame it zeroes every score for the next level.
LEVEL_EXIT_COMMAND = "vstr nextmap"


def is_level_exit(commands: list[str]) -> bool:
    return any(c.strip() == LEVEL_EXIT_COMMAND for c in commands)


def exit_reason(line: str) -> str | None:
    """"Exit: Fraglimit hit." -> "Fraglimit hit." (the game is entering intermission)."""
    m = _EXIT.match(line)
    return m.group(1) if m else None


def match_info(cs: dict[int, str], level_time: int) -> pb.MatchInfo:
    info = parse_info(cs.get(abi.CS_SERVERINFO, ""))
    game_type = to_int(info.get("g_gametype", "0"))
    warmup = cs.get(abi.CS_WARMUP, "")
    m = pb.MatchInfo(
        map=info.get("mapname", "").lower(),
        game_type=game_type + 1 if 0 <= game_type < abi.GT_MAX_GAME_TYPE else 0,
        phase=phase(cs, level_time),
        frag_limit=to_int(info.get("fraglimit", "0")),
        time_limit_s=to_int(info.get("timelimit", "0")) * 60,
        capture_limit=to_int(info.get("capturelimit", "0")),
        warmup_end_ms=to_int(warmup) if warmup else 0,
        level_start_ms=to_int(cs.get(abi.CS_LEVEL_START_TIME, "0")),
    )
    if game_type >= abi.GT_TEAM and game_type != abi.GT_LMS:
        m.red_score = to_int(cs.get(abi.CS_SCORES1, "0"))
        m.blue_score = to_int(cs.get(abi.CS_SCORES2, "0"))
    return m


def phase(cs: dict[int, str], level_time: int) -> int:
    if cs.get(abi.CS_INTERMISSION, "") == "1":
        return pb.MATCH_PHASE_INTERMISSION
    warmup = cs.get(abi.CS_WARMUP, "")
    if warmup and (to_int(warmup) < 0 or to_int(warmup) > level_time):
        return pb.MATCH_PHASE_WARMUP
    return pb.MATCH_PHASE_PLAYING


def player_info(cs_value: str) -> PlayerInfo | None:
    """What a CS_PLAYERS+n string says about the slot; None when the slot is free."""
    if not cs_value:
        return None
    info = parse_info(cs_value)
    skill = info.get("skill")  # only bots have one
    return PlayerInfo(name=strip_colours(info.get("n", "")),
                      skill=to_int(skill) if skill else 0, is_bot=skill is not None)
