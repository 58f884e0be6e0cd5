"""The ioq3ded command line that runs a validated MatchConfig."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gametap.q3 import abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb

# Run after every map load: loading a map resets nextmap to "map_restart 0", and a
# match is over when the game's limits end its map, so the server should exit then.
MAP_START_COMMANDS = ("set nextmap quit",)
# What runs once the map is loaded (the bots): a file the server execs, because ioq3 joins its
# whole command line into 1,024 characters and silently cuts the rest (bots past about 12 were lost).
START_SCRIPT = "gametap-start.cfg"
# After each addbot (the match's bots and agents' players alike): the game's commands wait two
# frames. A join is broadcast to every player as reliable commands, and a bot reads its own only
# when it thinks (bot_thinktime, 100 ms): 30 bots added at once overflowed the engine's 64
# unacknowledged commands per client, and it dropped the earliest ("Server command overflow").
JOIN_PACE = "wait 2"
# Players the game module can drive with its bot code (bots and agents' slots): every one takes
# memory from the game's fixed pool, and the 26th on oa_dm1 (27th on oa_dm4) ended the game with
# "BG_Alloc: failed on allocation of 244 bytes". One is kept in hand for bigger maps.
MAX_BOT_PLAYERS = 24
# [game] join_password: what the game's console and a client's `password` cvar take unquoted
JOIN_PASSWORD = re.compile(r"^[A-Za-z0-9._~+=-]{1,64}$")

_TEAM_NAMES = {wpb.TEAM_RED: "red", wpb.TEAM_BLUE: "blue", wpb.TEAM_FREE: "free"}


@dataclass(frozen=True)
class GameInstall:
    binary: Path = Path("/usr/lib/ioquake3/ioq3ded")
    basepath: Path = Path("/usr/lib/openarena-server")
    game: str = "baseoa"

    def problems(self) -> list[str]:
        out = []
        if not self.binary.is_file():
            out.append(f"game server {self.binary} is missing (apt-get install openarena-server, or make setup)")
        if not (self.basepath / self.game).is_dir():
            out.append(f"game data {self.basepath / self.game} is missing (apt-get install openarena-server)")
        return out


def command_line(install: GameInstall, config: mpb.MatchConfig, home: Path, hostname: str,
                 udp_port: int | None = None, bind_ip: str = "127.0.0.1", client_timeout_s: int = 30) -> list[str]:
    """udp_port: REALTIME matches listen for human clients there; LOCKSTEP ones have no network.
    client_timeout_s: a client silent that long is dropped, one that never finished connecting
    included (the engine's own default, 200 s, kept such slots for minutes)."""
    sets = {
        "dedicated": "1",
        "vm_game": "0",  # the native module (the engine would find it anyway; be explicit)
        "com_basegame": install.game,
        "fs_basepath": str(install.basepath),
        "fs_homepath": str(home),
        "sv_hostname": hostname,
        "sv_maxclients": str(abi.MAX_CLIENTS),
        "sv_fps": str(config.server_fps),
        "g_gametype": str(config.game_type - 1),
        "fraglimit": str(config.frag_limit),
        "timelimit": str(config.time_limit_s // 60),
        "capturelimit": str(config.capture_limit),
        "bot_minplayers": "0",
        "g_inactivity": "0",
        "g_allowVote": "0",  # a human who joins cannot call a vote (kick, map, a limit) on a match that is an experiment
        # As Debian's openarena and openarena-server wrappers set them: a stock client speaks
        # protocol 71 in the legacy framing, and a server on ioq3's defaults (71 modern, 68
        # legacy) reads its packets in the other framing ("Illegible server message").
        "com_protocol": "71",
        "com_legacyprotocol": "71",
    }
    if config.clock == mpb.LOCKSTEP or udp_port is None:
        sets["net_enabled"] = "0"
    else:
        sets.update(net_enabled="1", net_ip=bind_ip, net_port=str(udp_port), sv_timeout=str(client_timeout_s))
    argv = [str(install.binary)]
    for name, value in sets.items():
        argv += ["+set", name, value]
    return argv + ["+map", config.map, "+exec", START_SCRIPT]


def addbot(bot: str, skill: int, team: str = "", name: str = "") -> str:
    """The game's `addbot <bot> [skill] [team] [msec delay] [altname]`, then JOIN_PACE."""
    words = ["addbot", bot, str(skill)]
    if name:  # the arguments are positional: an altname needs a team and a delay before it
        words += [team or "free", "0", f'"{name}"']
    elif team:
        words.append(team)
    return " ".join(words) + "\n" + JOIN_PACE


def start_script(config: mpb.MatchConfig, join_password: str = "") -> str:
    """The commands START_SCRIPT holds: the join password (here, not on the command line, which
    every local user can read in /proc), the map-start commands, then one addbot per bot."""
    password = [f'set g_password "{join_password}"', "set g_needpass 1"] if join_password else []
    lines = [*password, *MAP_START_COMMANDS,
             *(addbot(b.name, b.skill, _TEAM_NAMES.get(b.team, "")) for b in config.bots)]
    return "\n".join(lines) + "\n"


def write_start_script(config: mpb.MatchConfig, home: Path, game: str, join_password: str = "") -> Path:
    """Puts START_SCRIPT where the server looks first (fs_homepath/<game>/), readable by its owner only."""
    path = home / game / START_SCRIPT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(start_script(config, join_password))
    return path
