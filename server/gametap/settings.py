"""Daemon settings: defaults, a TOML file (`gametap serve --config FILE`), command-line overrides.

Example file (every key optional):

    [server]
    grpc = "127.0.0.1:50051"
    http = "127.0.0.1:8080"
    state_dir = "/var/lib/gametap"
    game_bind = "127.0.0.1"      # address REALTIME games listen on for human clients
    web_dir = "web"              # the viewer's files (index.html, static/, node_modules/)

    [game]
    binary = "/usr/lib/ioquake3/ioq3ded"
    basepath = "/usr/lib/openarena-server"
    library = "/usr/lib/gametap/libgametap_q3.so"

    [recording]
    enabled = true
    max_bytes = 1073741824       # per match; recording stops (the match goes on) past this

    [auth.tokens]                # none: open to anyone who can reach the ports
    "a-long-random-admin-token" = "admin"      # observe < play < admin
    "a-long-random-viewer-token" = "observe"

    [default_match]              # started with the daemon; `enabled = false` for none
    map = "oa_dm1"
    clock = "REALTIME"
    bots = [{ name = "Sarge", skill = 3 }, { name = "Grism", skill = 3 }]
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from google.protobuf import json_format

from gametap.auth import Role, parse_tokens
from gametap.q3.launch import GameInstall
from gametap.v1 import match_pb2 as mpb

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIBRARY = REPO_ROOT / "native" / "build" / "libgametap_q3.so"
DEFAULT_WEB_DIR = REPO_ROOT / "web"
DEFAULT_BOTS = ("Sarge", "Grism", "Kyonshi", "Major")


class SettingsError(Exception):
    pass


def default_match() -> mpb.MatchConfig:
    return mpb.MatchConfig(map="oa_dm1", clock=mpb.REALTIME,
                           bots=[mpb.BotConfig(name=n, skill=3) for n in DEFAULT_BOTS])


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "gametap"


@dataclass(frozen=True)
class Settings:
    grpc: str = "127.0.0.1:50051"
    http: str = "127.0.0.1:8080"
    state_dir: Path = field(default_factory=default_state_dir)
    game_bind: str = "127.0.0.1"
    install: GameInstall = field(default_factory=GameInstall)
    library: Path = field(default_factory=lambda: Path(os.environ.get("GAMETAP_LIBRARY", DEFAULT_LIBRARY)))
    web_dir: Path = DEFAULT_WEB_DIR
    record: bool = True
    record_max_bytes: int = 1 << 30
    default_match: mpb.MatchConfig | None = field(default_factory=default_match)
    max_finished_matches: int = 100  # ended matches kept for GetMatch/GetState
    tokens: dict[str, Role] = field(default_factory=dict)  # gametap.auth; empty: no tokens asked

    def make_game(self):
        """The game these settings host (gametap.game)."""
        from gametap import game
        return game.load("openarena", install=self.install, library=self.library)

    def with_overrides(self, **kw) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def problems(self) -> list[str]:
        return self.make_game().problems()

    def warnings(self) -> list[str]:
        out = []
        if not (self.web_dir / "node_modules" / "protobufjs").is_dir():
            out.append(f"the viewer's npm packages are missing under {self.web_dir} (run `make setup`)")
        exposed = [a for a in (self.grpc, self.http) if not _is_loopback(a)]
        if exposed and not self.tokens:
            out.append(f"{', '.join(exposed)} is reachable beyond this machine and no [auth.tokens] are set: "
                       "anyone who reaches it can create and stop matches")
        return out


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT -> (host without IPv6 brackets, port); ValueError if it is not that."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _is_loopback(address: str) -> bool:
    host = split_address(address)[0]
    return host in ("localhost", "::1") or host.startswith("127.")


def load(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"{path}: {e}") from e
    try:
        return _from_dict(data)
    except (KeyError, TypeError, ValueError, json_format.ParseError) as e:
        raise SettingsError(f"{path}: {e}") from e


def _from_dict(data: dict) -> Settings:
    unknown = set(data) - {"server", "game", "recording", "auth", "default_match"}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}")
    server, game, rec = data.get("server", {}), data.get("game", {}), data.get("recording", {})
    auth = data.get("auth", {})
    if set(auth) - {"tokens"}:
        raise ValueError(f"unknown keys in [auth]: {sorted(set(auth) - {'tokens'})}")
    s = Settings()
    install = GameInstall(binary=Path(game.get("binary", s.install.binary)),
                          basepath=Path(game.get("basepath", s.install.basepath)))
    match = s.default_match
    if "default_match" in data:
        table = dict(data["default_match"])
        match = None if table.pop("enabled", True) is False else json_format.ParseDict(table, mpb.MatchConfig())
    return Settings(
        grpc=str(server.get("grpc", s.grpc)), http=str(server.get("http", s.http)),
        state_dir=Path(server.get("state_dir", s.state_dir)), game_bind=str(server.get("game_bind", s.game_bind)),
        install=install, library=Path(game.get("library", s.library)),
        web_dir=Path(server.get("web_dir", s.web_dir)),
        record=bool(rec.get("enabled", s.record)), record_max_bytes=int(rec.get("max_bytes", s.record_max_bytes)),
        default_match=match, tokens=parse_tokens(auth.get("tokens", {})),
    )
