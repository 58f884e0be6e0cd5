"""FakeGame: the fake game on the game boundary (gametap.core.game), registered as "fake".

Its game process is `python -m gametap.games.fake` (no binary, nothing preloaded: it speaks
the link itself), its world core FakeWorld is pure Python. Configs and joins are checked by
OpenArena's own rules over the fake's roster, so what passes here passes there too (bar
maps and bots that only OpenArena has); the console speaks the OpenArena commands the
daemon sends (addbot with an altname, clientkick, quit, echo).
"""
from __future__ import annotations

import sys
from pathlib import Path

from google.protobuf import json_format

from gametap.client import features
from gametap.core import game
from gametap.games.fake import frames
from gametap.games.fake.world import FakeWorld
from gametap.q3 import launch, match_config
from gametap.q3.game import OpenArena
from gametap.q3.game_data import GameData
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

# Every map is the same plane; oa_dm1 is one so that OpenArena's defaults run unchanged.
_BOTS = ("Angelyss", "Arachna", "Gargoyle", "Grism", "Kyonshi", "Liz", "Major", "Merman", "Penguin", "Sarge",
         "Skelebot", "Sorceress", "Tony")
ROSTER = GameData(maps=frozenset({"plane", match_config.DEFAULT_MAP}),
                  maps_with_bots=frozenset({"plane", match_config.DEFAULT_MAP}),
                  bots={name.lower(): name for name in _BOTS})


class _Rules(OpenArena):
    """OpenArena's join checks (slots, names, teams, bots), over the fake's roster."""
    data = ROSTER


_RULES = _Rules()


class FakeGame(game.Game):
    name = "fake"
    max_players = 64
    max_bot_players = launch.MAX_BOT_PLAYERS  # OpenArena's, so that a config that fits here fits there
    feature_size = features.SIZE

    def __init__(self, **_settings):
        """The daemon's [game] settings (install, library, join_password) are OpenArena's: none apply."""

    @property
    def library(self) -> Path | None:
        return None  # nothing to preload: the game process speaks the link itself

    def problems(self) -> list[str]:
        return []

    def describe(self) -> mpb.GameDescription:
        return mpb.GameDescription(game=self.name, bots=sorted(ROSTER.bots.values()), max_players=self.max_players,
                                   max_bot_players=self.max_bot_players,
                                   maps=[mpb.MapInfo(name=m, bots_navigate=True) for m in sorted(ROSTER.maps)])

    def validate_config(self, config: mpb.MatchConfig) -> mpb.MatchConfig:
        return match_config.validate(config, ROSTER, entities=lambda name: ())  # a plane has no flags

    def command_line(self, config, home, hostname, udp_port, bind_ip, client_timeout_s) -> list[str]:
        # REALTIME matches run on the wall clock; there is no UDP port for humans to join
        return [sys.executable, "-m", "gametap.games.fake", "--config", json_format.MessageToJson(config, indent=None)]

    def check_module(self, fields: dict) -> str | None:
        if fields.get("build_id") != frames.MODULE["build_id"]:
            return f"unknown game module {fields.get('path', '?')} (build-id {fields.get('build_id') or 'none'})"
        return None

    def new_world(self, config: mpb.MatchConfig, record: bool) -> FakeWorld:
        return FakeWorld(config.keyframe_interval, record)

    def map_start_commands(self):
        return ()

    def validate_join(self, request: apb.JoinRequest, config: mpb.MatchConfig) -> list[game.Slot]:
        return _RULES.validate_join(request, config)

    def kick_command(self, client: int) -> str:
        return _RULES.kick_command(client)

    def scores(self, state: bytes) -> list[tuple[int, str, int]]:
        return _RULES.scores(state)
