"""A worker process: runs its share of the matches — their games, links, hot paths,
recordings, hubs and agent streams — and serves their Watch, GetState and Play over its
own gRPC port and their viewers over its own websocket, so that no per-frame byte
passes through the daemon. The daemon starts it (`python -m gametap.worker FD`), talks
to it over the control socket FD (gametap.worker.control) and, if it dies, fails its
matches and starts another. It ends with the daemon (PDEATHSIG) and takes its games along.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import prometheus_client
import uvloop
from aiohttp import web

from gametap.core import logs, metrics
from gametap.core.auth import Role
from gametap.core.errors import GametapError, InvalidArgument
from gametap.core.parent_death import die_with_parent
from gametap.core.settings import Settings, split_address
from gametap.core.tls import ServerTls, TlsFiles, add_port, server_tls
from gametap.v1 import match_pb2 as mpb
from gametap.worker import control
from gametap.worker.grpc_server import build_worker_server
from gametap.worker.http_app import build_worker_app
from gametap.worker.manager import MatchManager
from gametap.worker.match import Match

log = logging.getLogger("gametap.worker")
COLLECT_AFTER_S = 1.0  # a full garbage collection this long after matches were forgotten (Worker._collect_soon)


class Worker:
    def __init__(self, index: int, settings: Settings, channel: control.Channel):
        self.index = index
        self.settings = settings
        self.channel = channel
        self.manager = MatchManager(settings)
        self.placement = mpb.Placement(worker=index, worker_pid=os.getpid())
        self.stopped = asyncio.Event()
        self.tls: ServerTls | None = None  # its ports' certificate, when the daemon has one
        self._tasks: set[asyncio.Task] = set()
        self._collection: asyncio.TimerHandle | None = None
        self.manager.add_listener(self._on_match)

    def proto(self, match: Match) -> bytes:
        m = match.to_proto()
        m.placement.CopyFrom(self.placement)
        return m.SerializeToString()

    def _on_match(self, what: str, match: Match) -> None:
        if what == "removed":
            self.channel.send({"event": "removed", "match_id": match.id})
            self._collect_soon()
        else:
            self.channel.send({"event": "match", "match": self.proto(match)})

    def _collect_soon(self) -> None:
        """A forgotten match is garbage in reference cycles (its link, agent host and tasks point
        back at it) that only the collector frees, and main's thresholds make the collections
        that reach long-lived objects rare: without this a worker grew by every match it ran.
        One full collection (a few ms) shortly after, for however many matches went meanwhile."""
        if self._collection is None:
            self._collection = asyncio.get_running_loop().call_later(COLLECT_AFTER_S, self._collect)

    def _collect(self) -> None:
        self._collection = None
        gc.collect()

    # ---- requests from the daemon ----

    def on_message(self, message: dict) -> None:
        task = asyncio.ensure_future(self._answer(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: dict) -> None:
        request_id = message.get("id")
        try:
            handler = getattr(self, f"op_{message.get('op')}", None)
            if handler is None:
                raise InvalidArgument("op", f"unknown worker request {str(message.get('op'))[:40]!r}")
            reply = {"id": request_id, "ok": await handler(message)}
        except GametapError as e:
            reply = control.error_reply(request_id, e)
        except Exception as e:  # a bug here must answer the daemon, not hang it
            log.exception("worker %d: request %s failed", self.index, message.get("op"))
            reply = control.error_reply(request_id, e)
        self.channel.send(reply)

    async def op_reload(self, m: dict) -> bool:
        if m.get("tls") and self.tls is not None:  # first: a bad file (TlsError) changes nothing
            self.tls.reload(TlsFiles(Path(m["tls"]["cert"]), Path(m["tls"]["key"])))
        gate, revoked = self.manager.gate, self.manager.gate.revoked
        gate.replace({token: Role(role) for token, role in m["tokens"].items()})
        if gate.revoked > revoked:
            log.info("worker %d: closed %d streams and viewers whose token no longer allows them",
                     self.index, gate.revoked - revoked)
        self.manager.limits.update(m["limits"])
        return True

    async def op_create(self, m: dict) -> bytes:
        match = await self.manager.create(mpb.MatchConfig.FromString(m["config"]), match_id=m["match_id"])
        return self.proto(match)

    async def op_get(self, m: dict) -> bytes:
        return self.proto(self.manager.get(m["match_id"]))

    async def op_list(self, m: dict) -> list[bytes]:
        return [self.proto(match) for match in self.manager.list()]

    async def op_stop(self, m: dict) -> bytes:
        return self.proto(await self.manager.stop(m["match_id"]))

    async def op_command(self, m: dict) -> str:
        return await self.manager.get(m["match_id"]).run_command(m["command"])

    async def op_state(self, m: dict) -> bytes:
        return self.manager.get(m["match_id"]).world.state()

    async def op_metrics(self, m: dict) -> dict:
        return {"text": metrics.own_text()}  # its registry: process, gRPC calls, and its matches (MatchCollector)

    async def op_shutdown(self, m: dict) -> bool:
        await self.manager.shutdown()
        self.stopped.set()
        return True


def pin_to_core(index: int) -> int:
    """Keeps this worker (all its threads) on one core, where its games run while agents step
    them (gametap.worker.match.Match.keep_game_home): a LOCKSTEP step passes game -> worker -> game,
    and on a VM a wake-up on another core costs more than the step's own work. Returns the core."""
    cores = sorted(os.sched_getaffinity(0))
    cpu = cores[index % len(cores)]
    for thread in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(thread), {cpu})
        except OSError:
            pass  # a thread that just ended
    return cpu


async def serve(control_fd: int) -> None:
    loop = asyncio.get_running_loop()
    start: asyncio.Future = loop.create_future()
    worker: Worker | None = None

    def on_message(message: dict) -> None:
        if worker is None:
            if not start.done():
                start.set_result(message)
        else:
            worker.on_message(message)

    def on_closed(reason: str | None) -> None:  # the daemon is gone: end everything
        if worker is not None:
            worker.stopped.set()
        elif not start.done():
            start.set_exception(ConnectionError(reason or "the daemon closed the control socket"))

    sock = socket.socket(fileno=control_fd)
    _, channel = await loop.create_unix_connection(lambda: control.Channel(on_message, on_closed), sock=sock)
    first = await start
    index, settings = first["index"], Settings.from_dict(first["settings"])
    settings = settings.for_worker(index)
    all_cpus = os.sched_getaffinity(0)
    cpu = pin_to_core(index) if settings.pin_workers else -1
    worker = Worker(index, settings, channel)
    prometheus_client.REGISTRY.register(metrics.MatchCollector(worker.manager))
    worker.placement.cpu = cpu
    if cpu >= 0:
        worker.manager.home_cpu, worker.manager.all_cpus = cpu, all_cpus
    worker.tls = tls = server_tls(settings.tls)
    grpc_server = build_worker_server(worker.manager)
    grpc_host = settings.grpc.rpartition(":")[0]  # as written: an IPv6 host keeps its brackets
    grpc_port = add_port(grpc_server, f"{grpc_host}:{settings.worker_port(index, 0)}", tls)
    grpc_server.add_insecure_port(f"unix:{first['socket']}")  # the daemon's way in (WorkerPool.channel_to)
    await grpc_server.start()
    runner = web.AppRunner(build_worker_app(worker.manager), access_log=None)
    await runner.setup()
    http_host = split_address(settings.http)[0]
    site = web.TCPSite(runner, http_host, settings.worker_port(index, 1), ssl_context=tls.context if tls else None)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]
    worker.placement.grpc_port, worker.placement.http_port = grpc_port, http_port
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stopped.set)
    channel.send({"event": "ready", "pid": os.getpid(), "grpc_port": grpc_port, "http_port": http_port})
    try:
        await worker.stopped.wait()
    finally:
        await worker.manager.shutdown()
        await grpc_server.stop(grace=1)
        await runner.cleanup()
        channel.close()


def main(argv: list[str]) -> int:
    logs.setup()
    die_with_parent()
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m gametap.worker CONTROL_FD (the daemon starts workers)", file=sys.stderr)
        return 2
    if os.getppid() == 1:
        return 1  # the daemon is already gone
    gc.freeze()  # as the daemon: the per-frame work makes many short-lived acyclic objects, so
    gc.set_threshold(50_000, 50, 100)  # collections are rare; ended matches' cycles: Worker._collect_soon
    uvloop.run(serve(int(argv[1])))  # a C event loop: measured ~8% less worker CPU per agent step
    return 0

