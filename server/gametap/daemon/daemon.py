"""The daemon: one address and one service. Its control plane (MatchService, health,
reflection, the HTTP API, the viewer's files) runs here; matches run in its worker
processes (gametap.worker), one per core by default. Until SIGINT/SIGTERM; then every
worker stops its games and exits."""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import uvloop
from aiohttp import web

from gametap import __version__
from gametap.core import logs
from gametap.core import settings as settings_mod
from gametap.core.errors import GametapError
from gametap.core.settings import Settings
from gametap.core.tls import ServerTls, TlsError, TlsFiles, add_port, server_tls
from gametap.daemon.grpc_server import build_server, mark_serving
from gametap.daemon.http_app import build_app
from gametap.daemon.pool import WorkerPool
from gametap.daemon.systemd import Notifier
from gametap.v1 import match_pb2 as mpb

log = logging.getLogger("gametap")


class StartupError(Exception):
    pass


def split_address(address: str) -> tuple[str, int]:
    try:
        return settings_mod.split_address(address)
    except ValueError as e:
        raise StartupError(str(e)) from None


async def _start_http(pool: WorkerPool, address: str, web_dir, tls: ServerTls | None) -> tuple[web.AppRunner, str]:
    host, port = split_address(address)
    runner = web.AppRunner(build_app(pool, web_dir), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls.context if tls else None)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise StartupError(f"cannot listen for HTTP on {address}: {e.strerror}") from e
    bound = site._server.sockets[0].getsockname()  # the real port when 0 was asked for
    return runner, f"{host}:{bound[1]}"


async def serve(settings: Settings, announce: Callable[[str], None] = print, config: Path | None = None) -> None:
    """config: the settings file SIGHUP reloads tokens, limits and the TLS certificate from."""
    # Games run in their match's folder: every path they are given must be absolute.
    settings = dataclasses.replace(settings, state_dir=settings.state_dir.expanduser().resolve())
    problems = settings.problems()
    if problems:
        raise StartupError("cannot start:\n  " + "\n  ".join(problems))
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        tls = server_tls(settings.tls)
    except TlsError as e:
        raise StartupError(f"cannot start: {e}") from None
    pool = WorkerPool(settings)
    pool.game.validate_config(mpb.MatchConfig())  # reads the game's maps and bots now, not in the first create
    gc.freeze()  # never scan what start-up built
    server, health, _ = build_server(pool)
    host, _ = split_address(settings.grpc)
    try:
        grpc_port = add_port(server, settings.grpc, tls)
    except RuntimeError as e:  # grpcio says only "Failed to bind": the usual cause is a port in use
        raise StartupError(f"cannot listen for gRPC on {settings.grpc}: address already in use, or not "
                           f"this machine's ({e})") from None
    if not grpc_port:
        raise StartupError(f"cannot listen for gRPC on {settings.grpc}: address already in use")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloader = Reloader(pool, config, tls)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reloader.reload()))
    http_runner = alive = None
    notifier = Notifier()
    try:
        try:
            await pool.start()
        except GametapError as e:
            raise StartupError(f"cannot start the worker processes: {e}") from e
        await server.start()
        await mark_serving(health)
        http_runner, http_address = await _start_http(pool, settings.http, settings.web_dir, tls)
        web_url, ws_scheme = f"{settings.http_scheme}://{http_address}/", "wss" if tls else "ws"
        pool.viewer_base = web_url
        for warning in settings.warnings():
            log.warning("%s", warning)
        announce(f"gametap {__version__} serving (state in {settings.state_dir})")
        announce(f"  gRPC    {host}:{grpc_port}")
        announce(f"  HTTP    {web_url}")
        announce(f"  viewer  {web_url}   (Foxglove: {ws_scheme}://{http_address}/ws)")
        if tls:
            announce(f"  TLS     {tls.files.cert}" + (" (clients show a certificate)" if tls.files.client_ca else ""))
        announce(f"  workers {len(pool.workers)} (pids {', '.join(str(w.pid) for w in pool.workers)})")
        if settings.tokens:
            announce(f"  access  {len(settings.tokens)} tokens; clients send one (viewer: /?token=TOKEN)")
        if settings.default_match is not None:
            match = await pool.create(settings.default_match)
            announce(describe_match(match, settings.game_bind))
            announce(f"  watch it at {web_url}#/match/{match.id}")
        announce("Ctrl-C (or SIGTERM) stops the daemon and its games.")
        changed = asyncio.Event()
        pool.add_listener(lambda _what, _id: changed.set())
        notifier.ready(await _status(pool))
        alive = asyncio.ensure_future(notifier.keep_alive(lambda: _status(pool), changed))
        await stop.wait()
        announce("stopping: ending every game ...")
    finally:
        notifier.stopping()
        if alive is not None:
            alive.cancel()
        notifier.close()
        await pool.shutdown()
        await server.stop(grace=2)
        if http_runner is not None:
            await http_runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


# SIGHUP reloads [auth.tokens], [limits] and the TLS certificate and key; a change to these needs
# a restart (and is said so).
NEEDS_RESTART = ("grpc", "http", "game_bind", "web_dir", "workers", "worker_ports", "pin_workers", "game_ports",
                 "client_timeout_s", "join_password", "install", "library", "record", "record_max_bytes")


class Reloader:
    """SIGHUP: the settings file read again; its tokens, limits and certificate take effect at once."""

    def __init__(self, pool: WorkerPool, config: Path | None, tls: ServerTls | None):
        self.pool, self.config, self.tls = pool, config, tls
        self.last = settings_mod.load(config) if config else None  # as the file said (before command-line options)

    async def reload(self) -> None:
        if self.config is None:
            log.warning("SIGHUP: the daemon was started without a settings file; nothing to reload")
            return
        revoked = self.pool.gate.revoked
        try:
            new = settings_mod.load(self.config)
            tls_files = self._tls_to_load(new)
            if tls_files is not None:
                self.tls.reload(tls_files)  # first here: a bad file changes nothing anywhere
            await self.pool.reload(new, tls_files)
        except (settings_mod.SettingsError, GametapError, TlsError) as e:
            log.error("SIGHUP: %s; the tokens, limits and certificate in force stay", e)
            return
        others = [name for name in NEEDS_RESTART if getattr(new, name) != getattr(self.last, name)]
        if (new.tls is None) != (self.tls is None) or (new.tls and new.tls.client_ca != self.tls.files.client_ca):
            others.append("tls (turning it on or off, or the client CA)")
        self.last = new
        closed = self.pool.gate.revoked - revoked
        log.info("SIGHUP: reloaded %s: %d tokens, limits %s%s%s%s", self.config, len(new.tokens),
                 new.limits or "(defaults)", f", certificate {self.tls.files.cert}" if self.tls else "",
                 f"; closed {closed} streams and viewers here whose token no longer allows them" if closed else "",
                 f"; changed, but needing a restart: {', '.join(others)}" if others else "")

    def _tls_to_load(self, new: Settings):
        """The certificate and key to serve from now on (read again even if the paths are the same:
        a renewal rewrites the files); None if TLS is off, or turned on or off (that needs a restart)."""
        if self.tls is None or new.tls is None:
            return None
        return TlsFiles(new.tls.cert, new.tls.key, self.tls.files.client_ca)


async def _status(pool: WorkerPool) -> str:
    return status_text(await pool.list(mpb.MATCH_FILTER_LIVE))


def status_text(matches: list[mpb.Match], ids_shown: int = 3) -> str:
    """The STATUS line systemd shows: matches running and starting (their ids, the first few) and
    agents' players in them."""
    def some(ms: list[mpb.Match]) -> str:
        return " (" + " ".join(m.id for m in ms[:ids_shown]) + (" ..." if len(ms) > ids_shown else "") + ")"

    running = [m for m in matches if m.status == mpb.RUNNING]
    starting = [m for m in matches if m.status == mpb.STARTING]
    text = f"{len(running)} {'match' if len(running) == 1 else 'matches'} running" + (some(running) if running else "")
    if starting:
        text += f", {len(starting)} starting{some(starting)}"
    return text + f", {sum(len(m.agent_clients) for m in running)} agents' players"


def describe_match(m: mpb.Match, game_bind: str) -> str:
    c = m.config
    text = (f"  match {m.id}: {mpb.Clock.Name(c.clock)} {c.map}, {len(c.bots)} bots, "
            f"status {mpb.MatchStatus.Name(m.status)}")
    if m.game_port:
        text += f"; OpenArena clients connect to {game_bind}:{m.game_port}"
    if m.failure:
        text += f"\n    failed: {m.failure}"
    return text


def run(settings: Settings, config: Path | None = None) -> int:
    logs.setup()
    # The banner line by line also when stdout is not a terminal (systemd's journal): block-buffered,
    # it reached the journal only when the daemon stopped.
    sys.stdout.reconfigure(line_buffering=True)
    try:
        uvloop.run(serve(settings, config=config))
    except StartupError as e:
        print(f"gametap: {e}", file=sys.stderr)
        return 2
    return 0
