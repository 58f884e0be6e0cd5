"""OpenArena 0.8.8 on ioquake3, as gametap hosts it: the q3 side of the game boundary (gametap.core.game)."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from gametap.core import game
from gametap.core.elf import build_id
from gametap.core.errors import InvalidArgument
from gametap.q3 import _hotpath, abi, bsp, launch, match_config, spawns
from gametap.q3.game_data import GameData, load_game_data
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.provenance import debian_packages, file_sha256
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

MAX_FRAMES_PER_STEP = 1000
MAX_TIMEOUT_MS = 600_000
DEFAULT_BOT = "Sarge"
_NAME = re.compile(r"^[A-Za-z0-9 _\-.()\[\]+]{1,31}$")
_TEAM_WORDS = {wpb.TEAM_RED: "red", wpb.TEAM_BLUE: "blue"}
# The Debian packages a match's course can depend on: the game, its engine and data, and the C
# library whose maths the game's floating point runs on.
PACKAGES = ("openarena-server", "ioquake3-server", "openarena-088-data", "openarena-data", "libc6")


class OpenArena(game.Game):
    name = "openarena"
    max_players = abi.MAX_CLIENTS
    max_bot_players = launch.MAX_BOT_PLAYERS
    feature_size = _hotpath.FEATURE_SIZE

    def __init__(self, install: launch.GameInstall | None = None, library: Path | None = None,
                 join_password: str = ""):
        """join_password: what a human client must give to join a REALTIME match ("": none)."""
        self.install = install or launch.GameInstall()
        self._library = library
        self._join_password = join_password
        self._data: GameData | None = None

    @property
    def data(self) -> GameData:
        """Maps and bots of the installed game (read once)."""
        if self._data is None:
            self._data = load_game_data(self.install.basepath)
        return self._data

    @property
    def library(self) -> Path:
        return self._library

    def problems(self) -> list[str]:
        out = self.install.problems()
        if self._library is None or not self._library.is_file():
            out.append(f"{self._library} is missing (build it with `make native`, or set GAMETAP_LIBRARY)")
        return out

    def describe(self) -> mpb.GameDescription:
        data = self.data
        return mpb.GameDescription(
            game=self.name, bots=sorted(data.bots.values()), max_players=self.max_players,
            max_bot_players=self.max_bot_players,
            maps=[mpb.MapInfo(name=m, bots_navigate=m in data.maps_with_bots) for m in sorted(data.maps)])

    def validate_config(self, config: mpb.MatchConfig) -> mpb.MatchConfig:
        return match_config.validate(config, self.data,
                                     entities=lambda name: spawns.map_entities(self.install.basepath, name))

    def command_line(self, config, home, hostname, udp_port, bind_ip, client_timeout_s) -> list[str]:
        launch.write_start_script(config, home, self.install.game, self._join_password if udp_port else "")
        return launch.command_line(self.install, config, home, hostname=hostname, udp_port=udp_port, bind_ip=bind_ip,
                                   client_timeout_s=client_timeout_s)

    def check_module(self, fields: dict) -> str | None:
        build_id = fields.get("build_id", "")
        if build_id not in abi.KNOWN_MODULES:
            known = ", ".join(f"{k} ({v})" for k, v in abi.KNOWN_MODULES.items())
            return (f"unknown game module {fields.get('path', '?')} (build-id {build_id or 'none'}); "
                    f"gametap's ABI tables describe {known}")
        sizes = (fields.get("gentity_size"), fields.get("gclient_size"))
        if sizes != (abi.GENTITY_SIZE, abi.GCLIENT_SIZE):
            return (f"game module reports gentity/gclient sizes {sizes}, "
                    f"expected {(abi.GENTITY_SIZE, abi.GCLIENT_SIZE)}")
        return None

    def new_world(self, config: mpb.MatchConfig, record: bool) -> _hotpath.World:
        return _hotpath.World(config.keyframe_interval, record)  # native/hotpath

    def map_start_commands(self):
        return launch.MAP_START_COMMANDS

    def kick_command(self, client: int) -> str:
        return f"clientkick {client}"

    def validate_join(self, request: apb.JoinRequest, config: mpb.MatchConfig) -> list[game.Slot]:
        game_type = config.game_type - 1
        team_game = game_type >= abi.GT_TEAM and game_type != abi.GT_LMS
        if not 1 <= len(request.slots) <= abi.MAX_CLIENTS:
            raise InvalidArgument("slots", f"{len(request.slots)} slots asked for; 1..{abi.MAX_CLIENTS} allowed")
        if request.frames_per_step > MAX_FRAMES_PER_STEP:
            raise InvalidArgument("frames_per_step", f"{request.frames_per_step} is outside 0..{MAX_FRAMES_PER_STEP}")
        if request.action_timeout_ms > MAX_TIMEOUT_MS:
            raise InvalidArgument("action_timeout_ms", f"{request.action_timeout_ms} is outside 0..{MAX_TIMEOUT_MS}")
        if request.observation not in apb.ObservationKind.values():
            raise InvalidArgument("observation", f"{request.observation} is not an ObservationKind")
        slots = [self._slot(spec, f"slots[{i}]", team_game) for i, spec in enumerate(request.slots)]
        names = [s.name for s in slots]
        if len(set(names)) != len(names):
            raise InvalidArgument("slots", "two slots of one stream have the same name")
        return slots

    def _slot(self, spec: apb.SlotSpec, where: str, team_game: bool) -> game.Slot:
        if not _NAME.match(spec.name):
            raise InvalidArgument(f"{where}.name", f"{spec.name[:40]!r} is not 1..31 letters, digits, spaces or _-.()[]+")
        if spec.team not in wpb.Team.values() or spec.team == wpb.TEAM_SPECTATOR:
            raise InvalidArgument(f"{where}.team", f"{spec.team} is not a team an agent can play on")
        if spec.team in (wpb.TEAM_RED, wpb.TEAM_BLUE) and not team_game:
            raise InvalidArgument(f"{where}.team", f"{wpb.Team.Name(spec.team)} needs a team game type")
        if spec.visibility not in apb.Visibility.values():
            raise InvalidArgument(f"{where}.visibility", f"{spec.visibility} is not a Visibility")
        bot = self.data.bots.get((spec.bot or DEFAULT_BOT).lower())
        if bot is None:
            raise InvalidArgument(f"{where}.bot", f"unknown bot {spec.bot[:40]!r}")
        if not 0 <= spec.bot_skill <= 5:
            raise InvalidArgument(f"{where}.bot_skill", f"{spec.bot_skill} is outside 1..5")
        team = _TEAM_WORDS.get(spec.team, "free")
        return game.Slot(name=spec.name, pvs=spec.visibility == apb.PVS,
                         addbot_command=launch.addbot(bot, spec.bot_skill or 3, team, spec.name))

    def hot_path_timings(self) -> dict[str, tuple[int, float]]:
        return _hotpath.timings()

    def scores(self, state: bytes) -> list[tuple[int, str, int]]:
        return [(p.client, p.name, p.score) for p in wpb.WorldState.FromString(state).players]

    def provenance(self, config: mpb.MatchConfig) -> dict:
        pk3 = bsp.map_archive(self.install.basepath, config.map)
        return {"game": self.name, "game_install": str(self.install.basepath), "map": config.map,
                "map_pk3": str(pk3) if pk3 else "", "map_pk3_sha256": file_sha256(pk3) if pk3 else "",
                "engine": _binary(self.install.binary), "library": _binary(self._library),
                "packages": debian_packages(PACKAGES), "cpu_estimates": cpu_estimates()}

    def map_geometry(self, name: str) -> dict | None:
        from gametap.q3 import bsp, mapgeom
        if name not in self.data.maps:
            return None
        try:
            return mapgeom.map_geometry(self.install.basepath, name)
        except bsp.BspError as e:
            raise ValueError(str(e)) from e


@functools.lru_cache(maxsize=1)
def cpu_estimates() -> str:
    """A digest of this CPU's rsqrtss and rcpss results: the engine computes with both, and what
    they give differs between CPU makers (native/hotpath/cpu_estimates.c)."""
    return _hotpath.cpu_estimates()


def _binary(path: Path | None) -> dict:
    return {"path": str(path or ""), "build_id": build_id(path) if path else ""}
