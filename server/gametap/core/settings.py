"""Daemon settings: defaults, a TOML file (`gametap serve --config FILE`), command-line overrides.

Example file (every key optional):

    [server]
    grpc = "127.0.0.1:50051"
    http = "127.0.0.1:8080"
    state_dir = "/var/lib/gametap"
    game_bind = "127.0.0.1"      # address REALTIME games listen on for human clients
    web_dir = "web"              # the viewer's files (index.html, static/, node_modules/)
    workers = 2                  # worker processes that run matches (default: the number of cores)
    worker_ports = "50100-50199" # each worker's gRPC and websocket port from this range (default: any free)
    pin_workers = true           # worker i and its games run on the i-th core (false: anywhere)
    game_ports = "27960-27999"   # UDP ports REALTIME games listen on for human clients (default: any free)
    tls_cert = "/etc/gametap/cert.pem"  # serve gRPC, HTTP and websockets over TLS (gametap.core.tls); with tls_key
    tls_key = "/etc/gametap/key.pem"
    tls_client_ca = "/etc/gametap/clients.pem"  # optional: clients must show a certificate this CA signed

    [game]
    name = "openarena"           # the game hosted (gametap.core.game.GAMES; "fake": gametap.games.fake, for tests)
    binary = "/usr/lib/ioquake3/ioq3ded"
    basepath = "/usr/lib/openarena-server"
    library = "/usr/lib/gametap/libgametap_q3.so"
    client_timeout_s = 30        # a human client silent this long is dropped, mid-connect included
    join_password = "..."        # REALTIME games ask every joining client for it (default: none)

    [recording]
    enabled = true
    max_bytes = 1073741824       # per match; recording stops (the match goes on) past this
    keep_bytes = "25%"           # the archive's bound: past it, the oldest ended matches go; bytes, or a
                                 # share of the state dir's file system (0: no bound)
    keep_free_bytes = 1073741824 # ...and while less than this is free on that file system (0: no floor)
    keep_days = 0                # ended matches older than this go (0: kept forever)

    [limits]                     # what callers can make the daemon spend (gametap.core.limits.DEFAULTS)
    matches = 64

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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from google.protobuf import json_format

from gametap.core import limits
from gametap.core.auth import Role, key_names, parse_tokens
from gametap.core.game import GAMES
from gametap.core.tls import TlsFiles
from gametap.q3.launch import JOIN_PASSWORD, GameInstall
from gametap.v1 import match_pb2 as mpb


@dataclass(frozen=True)
class Retention:
    """[recording] keep_bytes, keep_free_bytes and keep_days: how much of the archive stays
    (gametap.recordings.archive.bound). keep_bytes is a number of bytes or a share of the file system
    holding the state directory ("25%", the default); 0 sets no bound on the archive's size."""
    keep_bytes: int = 0               # the archive's bound in bytes (0: none, or keep_share's)
    keep_share: float = 0.25          # with keep_bytes 0: the bound is this share of the file system's size
    keep_free_bytes: int = 1 << 30    # ended matches go while less than this is free on it (0: no floor)
    keep_days: float = 0              # 0: kept forever

REPO_ROOT = Path(__file__).resolve().parents[3]
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
    game: str = "openarena"  # [game] name: which of gametap.core.game.GAMES is hosted
    install: GameInstall = field(default_factory=GameInstall)
    library: Path = field(default_factory=lambda: Path(os.environ.get("GAMETAP_LIBRARY", DEFAULT_LIBRARY)))
    web_dir: Path = DEFAULT_WEB_DIR
    record: bool = True
    record_max_bytes: int = 1 << 30
    retention: Retention = field(default_factory=Retention)  # [recording] keep_bytes, keep_free_bytes, keep_days
    default_match: mpb.MatchConfig | None = field(default_factory=default_match)
    max_finished_matches: int = 100  # ended matches kept for GetMatch/GetState
    tokens: dict[str, Role] = field(default_factory=dict)  # gametap.core.auth; empty: no tokens asked
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # worker processes (gametap.worker)
    worker_ports: tuple[int, int] | None = None  # (first, last) port workers listen on; None: any free port
    pin_workers: bool = True  # each worker and its games on a core of their own (worker i: the i-th core)
    game_ports: tuple[int, ...] = ()  # UDP ports REALTIME games may listen on (a worker: its share); (): any free
    game_ports_text: str = ""         # game_ports as configured ("27960-27999"), for messages
    client_timeout_s: int = 30        # a human client silent this long is dropped (connecting or playing)
    join_password: str = ""           # [game]: what a human client gives to join a REALTIME match ("": none)
    limits: dict[str, int] = field(default_factory=dict)  # [limits] overrides of gametap.core.limits.DEFAULTS
    tls: TlsFiles | None = None       # [server] tls_cert, tls_key, tls_client_ca; None: plain TCP

    @property
    def http_scheme(self) -> str:
        return "https" if self.tls else "http"

    def worker_port(self, worker: int, which: int) -> int:
        """The port worker `worker` listens on for gRPC (which=0) or its websocket (1); 0: any."""
        if self.worker_ports is None:
            return 0
        port = self.worker_ports[0] + 2 * worker + which
        if port > self.worker_ports[1]:
            raise ValueError(f"worker_ports {self.worker_ports[0]}-{self.worker_ports[1]} has no room for "
                             f"{self.workers} workers (two ports each)")
        return port

    def to_dict(self) -> dict:
        """Everything a worker needs, as plain values (gametap.worker.control carries it)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("default_match", "retention"):  # the daemon's own business
                continue
            if f.name == "install":
                value = {"binary": str(value.binary), "basepath": str(value.basepath), "game": value.game}
            elif f.name == "tokens":
                value = {token: int(role) for token, role in value.items()}
            elif f.name == "tls" and value is not None:
                value = {name: str(path) if path else None for name, path in vars(value).items()}
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        kw = dict(data)
        kw["install"] = GameInstall(binary=Path(kw["install"]["binary"]), basepath=Path(kw["install"]["basepath"]),
                                    game=kw["install"]["game"])
        kw["tokens"] = {token: Role(role) for token, role in kw["tokens"].items()}
        for name in ("state_dir", "library", "web_dir"):
            kw[name] = Path(kw[name])
        kw["worker_ports"] = tuple(kw["worker_ports"]) if kw.get("worker_ports") else None
        kw["game_ports"] = tuple(kw["game_ports"])
        if kw.get("tls"):
            kw["tls"] = TlsFiles(**{name: Path(path) if path else None for name, path in kw["tls"].items()})
        return cls(default_match=None, **kw)

    def make_game(self):
        """The game these settings host (gametap.core.game)."""
        from gametap.core import game
        return game.load(self.game, install=self.install, library=self.library, join_password=self.join_password)

    def for_worker(self, index: int) -> Settings:
        """Worker index's settings: its own share of game_ports, so workers never pick the same port."""
        return replace(self, game_ports=self.game_ports[index::self.workers])

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
        if exposed and self.tokens and not self.tls:
            out.append(f"{', '.join(exposed)} is reachable beyond this machine without TLS: access tokens travel "
                       "in clear text (set [server] tls_cert and tls_key)")
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
    except UnicodeDecodeError as e:
        raise SettingsError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); TOML files are UTF-8") from e
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"{path}: {e}") from e
    try:
        return _from_dict(data)
    except (KeyError, TypeError, ValueError, json_format.ParseError) as e:
        raise SettingsError(f"{path}: {e}") from e


SECTIONS = ("server", "game", "recording", "auth", "default_match", "limits")
# [default_match] takes MatchConfig's fields, by their names or JSON names, and `enabled`
_MATCH_KEYS = {"enabled"} | {n for f in mpb.MatchConfig.DESCRIPTOR.fields for n in (f.name, f.json_name)}


def _from_dict(data: dict) -> Settings:
    unknown = set(data) - set(SECTIONS)
    if unknown:  # a key above every section is one too (a token written before its [auth.tokens])
        raise ValueError(f"unknown sections: {key_names(unknown, SECTIONS)}")
    server, game, rec = data.get("server", {}), data.get("game", {}), data.get("recording", {})
    auth = data.get("auth", {})
    for section, table, known in (("game", game, {"name", "binary", "basepath", "library", "client_timeout_s",
                                                  "join_password"}),
                                  ("recording", rec, {"enabled", "max_bytes", "keep_bytes", "keep_free_bytes",
                                                      "keep_days"})):
        if set(table) - known:
            raise ValueError(f"unknown keys in [{section}]: {key_names(set(table) - known, known)}")
    if set(auth) - {"tokens"}:
        raise ValueError(f"unknown keys in [auth]: {key_names(set(auth) - {'tokens'}, ['tokens'])}")
    s = Settings()
    install = GameInstall(binary=Path(game.get("binary", s.install.binary)),
                          basepath=Path(game.get("basepath", s.install.basepath)))
    match = s.default_match
    if "default_match" in data:
        table = dict(data["default_match"])
        if set(table) - _MATCH_KEYS:  # before ParseDict, whose error would show the key whole
            raise ValueError(f"unknown keys in [default_match]: {key_names(set(table) - _MATCH_KEYS, _MATCH_KEYS)}")
        match = None if table.pop("enabled", True) is False else json_format.ParseDict(table, mpb.MatchConfig())
    known = {"grpc", "http", "state_dir", "game_bind", "web_dir", "workers", "worker_ports",
             "pin_workers", "game_ports", "tls_cert", "tls_key", "tls_client_ca"}
    if set(server) - known:
        raise ValueError(f"unknown keys in [server]: {key_names(set(server) - known, known)}")
    workers = int(server.get("workers", s.workers))
    if not 1 <= workers <= 256:
        raise ValueError(f"[server] workers = {workers}: 1..256 allowed")
    game_ports = _port_range(server.get("game_ports"), "game_ports")
    retention = _retention(rec)
    timeout = int(game.get("client_timeout_s", s.client_timeout_s))
    if not 5 <= timeout <= 3600:
        raise ValueError(f"[game] client_timeout_s = {timeout}: 5..3600 allowed")
    password = game.get("join_password", "")
    if password and (not isinstance(password, str) or not JOIN_PASSWORD.match(password) or password.lower() == "none"):
        raise ValueError("[game] join_password: 1..64 letters, digits and ._~+=- (not \"none\"; the value is not shown)")
    name = str(game.get("name", s.game))
    if name not in GAMES:
        raise ValueError(f"[game] name = {name!r}: one of {', '.join(sorted(GAMES))}")
    return Settings(
        game=name, join_password=password,
        workers=workers, worker_ports=_port_range(server.get("worker_ports"), "worker_ports"),
        game_ports=tuple(range(game_ports[0], game_ports[1] + 1)) if game_ports else (),
        game_ports_text=str(server.get("game_ports", "")), client_timeout_s=timeout,
        pin_workers=bool(server.get("pin_workers", s.pin_workers)),
        grpc=str(server.get("grpc", s.grpc)), http=str(server.get("http", s.http)),
        state_dir=Path(server.get("state_dir", s.state_dir)), game_bind=str(server.get("game_bind", s.game_bind)),
        install=install, library=Path(game.get("library", s.library)),
        web_dir=Path(server.get("web_dir", s.web_dir)),
        record=bool(rec.get("enabled", s.record)), record_max_bytes=int(rec.get("max_bytes", s.record_max_bytes)),
        retention=retention,
        default_match=match, tokens=parse_tokens(auth.get("tokens", {})),
        limits=limits.parse(data.get("limits", {})),
        tls=_tls_files(server),
    )


def _retention(rec: dict) -> Retention:
    keep = rec.get("keep_bytes", f"{Retention.keep_share:.0%}")
    free = rec.get("keep_free_bytes", Retention.keep_free_bytes)
    days = rec.get("keep_days", 0)
    if type(free) is not int or free < 0:
        raise ValueError(f"[recording] keep_free_bytes = {free!r}: a whole number of bytes, 0 or more (0: no floor)")
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise ValueError(f"[recording] keep_days = {days!r}: a number of days, 0 or more (0: kept forever)")
    if type(keep) is int and keep >= 0:
        return Retention(keep_bytes=keep, keep_share=0.0, keep_free_bytes=free, keep_days=days)
    share = str(keep).removesuffix("%")
    try:
        if not isinstance(keep, str) or not keep.endswith("%") or not 0 < float(share) <= 100:
            raise ValueError
    except ValueError:
        raise ValueError(f"[recording] keep_bytes = {keep!r}: a whole number of bytes (0: no bound) or a share of the "
                         f"file system such as \"25%\"") from None
    return Retention(keep_share=float(share) / 100, keep_free_bytes=free, keep_days=days)


def _tls_files(server: dict) -> TlsFiles | None:
    cert, key, client_ca = (server.get(name) for name in ("tls_cert", "tls_key", "tls_client_ca"))
    if cert is None and key is None:
        if client_ca is not None:
            raise ValueError("[server] tls_client_ca needs tls_cert and tls_key")
        return None
    if cert is None or key is None:
        raise ValueError("[server] tls_cert and tls_key go together: set both, or neither")
    # Absolute: the workers (and SIGHUP's reload) read them too.
    return TlsFiles(Path(cert).expanduser().resolve(), Path(key).expanduser().resolve(),
                    Path(client_ca).expanduser().resolve() if client_ca is not None else None)


def _port_range(text, name: str) -> tuple[int, int] | None:
    if text is None:
        return None
    first, sep, last = str(text).partition("-")
    if not sep or not first.isdigit() or not last.isdigit() or not 1 <= int(first) <= int(last) <= 65535:
        raise ValueError(f"[server] {name} = {text!r} is not a port range like \"50100-50199\"")
    return int(first), int(last)
