"""WorkerPool: the daemon's side of its workers. It starts `[server] workers` worker
processes, places each new match on the least loaded one, answers for every match
(asking its worker), and when a worker dies fails that worker's matches with the reason
and starts a new worker in its place; the other workers and their matches carry on.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from gametap.core import limits
from gametap.core.auth import Gate, Role
from gametap.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from gametap.core.game import Game
from gametap.core.ids import new_match_id
from gametap.core.settings import Settings
from gametap.core.tls import TlsFiles
from gametap.recordings.archive import Archive, Upkeep
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb
from gametap.worker import control

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0  # a create or a stop waits for a game process; nothing else takes long
QUICK_DEATH_S = 10.0  # a worker that dies sooner than this after starting is restarted with a growing delay
ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)
PLACEMENT_GROUP = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(eq=False)
class WorkerHandle:
    index: int
    process: asyncio.subprocess.Process | None = None
    channel: control.Channel | None = None
    ready: asyncio.Future | None = None
    grpc_port: int = 0
    http_port: int = 0
    socket: str = ""  # its gRPC port for the daemon alone: a unix socket in a directory only we can enter
    alive: bool = False
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    next_id: int = 1
    started: float = 0.0  # loop time it was started
    restarts: int = 0     # quick deaths in a row (a worker that cannot start is retried more slowly)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0


class WorkerPool:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.limits = limits.Limits(settings.limits)
        self.game: Game = settings.make_game()
        # The daemon's own calls to its workers (the websocket's Watch streams) carry a token of
        # their own, always: a reload may bring tokens to a daemon that started with none.
        self._internal_token = secrets.token_hex(24)
        self.internal_metadata = (("authorization", f"Bearer {self._internal_token}"),)
        self._worker_settings = dataclasses.replace(settings, tokens=self._worker_tokens(settings.tokens))
        self.gate = Gate(settings.tokens)  # the daemon's own token check (gRPC and HTTP)
        self._channels: dict[tuple[int, str], grpc.aio.Channel] = {}
        self._socket_dir = ""  # made at start (mode 0700); the workers' unix sockets
        self._spawned = 0
        self.workers: list[WorkerHandle] = [WorkerHandle(i) for i in range(settings.workers)]
        self._records: dict[str, mpb.Match] = {}  # every match the daemon knows, as last heard
        self._creating: dict[int, int] = {}  # worker index -> creations in progress (placement counts them)
        self._groups: dict[str, int] = {}    # placement group -> the worker its matches run in
        self._listeners: list[Callable[[str, str], None]] = []
        self._closing = False
        self._spawning: set[asyncio.Task] = set()
        self.archive = Archive(settings.state_dir)  # ended matches the pool no longer keeps, and earlier runs'
        self.upkeep = Upkeep(self.archive, settings.retention, self._live_ids, self._forget)
        self.viewer_base = ""  # the viewer's address ("http://HOST:PORT/"), once the daemon serves HTTP

    # ---- lifecycle ----

    async def start(self) -> None:
        """Starts the workers; the archive is indexed meanwhile (a big one takes seconds: the
        daemon serves at once, and only the calls that need the archive wait for it)."""
        self.upkeep.start()
        self._socket_dir = tempfile.mkdtemp(prefix="gametap-")
        await asyncio.gather(*(self._spawn(w) for w in self.workers))

    async def _spawn(self, w: WorkerHandle) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        try:
            w.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gametap.worker", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)  # Ctrl-C is the daemon's to handle
        finally:
            theirs.close()
        w.ready = loop.create_future()
        w.pending = {}
        w.started = loop.time()
        _, w.channel = await loop.create_unix_connection(
            lambda: control.Channel(lambda m: self._on_message(w, m), lambda r: self._on_closed(w, r)), sock=ours)
        w.alive = True  # only now: requests need the new channel
        self._spawned += 1
        w.socket = os.path.join(self._socket_dir, f"worker-{w.index}-{self._spawned}.sock")  # a new one per process
        w.channel.send({"index": w.index, "settings": self._worker_settings.to_dict(), "socket": w.socket})
        try:
            await asyncio.wait_for(asyncio.shield(w.ready), START_TIMEOUT_S)
        except TimeoutError:
            w.process.kill()
            raise Unavailable(f"worker {w.index} did not start within {START_TIMEOUT_S:.0f} s") from None
        log.info("worker %d: pid %d, gRPC port %d, websocket port %d", w.index, w.pid, w.grpc_port, w.http_port)

    def channel_to(self, w: WorkerHandle) -> grpc.aio.Channel:
        """A gRPC channel to the worker (kept while that worker process lives). It goes over the
        worker's unix socket, not its TCP port: no TLS to make between two processes of ours,
        and the callers' tokens still travel with each call and are checked there."""
        key = (w.pid, w.socket)
        if key not in self._channels:
            self._channels[key] = grpc.aio.insecure_channel(f"unix:{w.socket}", options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        return self._channels[key]

    async def shutdown(self) -> None:
        """Stops every worker (each stops its games first) and waits for them to exit."""
        self._closing = True
        self.upkeep.stop()
        if self._spawning:  # a worker being replaced: let it start, then stop it with the others
            await asyncio.gather(*self._spawning, return_exceptions=True)
        live = self._ready_workers()
        await asyncio.gather(*(self._request(w, "shutdown") for w in live), return_exceptions=True)
        for w in self.workers:
            if w.process is not None and w.process.returncode is None:
                try:
                    await asyncio.wait_for(w.process.wait(), 10)
                except TimeoutError:
                    w.process.kill()
                    await w.process.wait()
        await asyncio.gather(*(c.close() for c in self._channels.values()), return_exceptions=True)
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # ---- the control channel ----

    def _on_message(self, w: WorkerHandle, message: dict) -> None:
        if "id" in message:
            future = w.pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("event")
        if event == "ready":
            w.grpc_port, w.http_port = int(message["grpc_port"]), int(message["http_port"])
            if not w.ready.done():
                w.ready.set_result(None)
        elif event == "match":
            m = mpb.Match.FromString(message["match"])
            self._remember(m)
            if m.status in ENDED:
                self.upkeep.soon()
        elif event == "removed":
            self._forget(str(message.get("match_id")))

    def _on_closed(self, w: WorkerHandle, reason: str | None) -> None:
        if not w.alive:
            return
        w.alive = False
        for future in w.pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"worker {w.index} (pid {w.pid}) went away"))
        w.pending.clear()
        if w.ready is not None and not w.ready.done():
            w.ready.set_exception(Unavailable(f"worker {w.index} ended while starting ({reason or 'no reason'})"))
        task = asyncio.ensure_future(self._bury(w))
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    async def _bury(self, w: WorkerHandle) -> None:
        """A worker ended: fail its matches with how it ended (what they reached from their
        recordings: the daemon heard of their frames only when it asked), and start another
        worker in its place."""
        code = await w.process.wait()
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        dead = [m for m in self._records.values()
                if m.placement.worker == w.index and m.placement.worker_pid == w.pid and m.status not in ENDED]
        recorded = await asyncio.to_thread(lambda: [self.archive.recorded(m.id) for m in dead])
        for m, s in zip(dead, recorded):
            m.status, m.pid, m.frames_per_second, m.ended_unix_s = mpb.FAILED, 0, 0.0, time.time()
            m.failure = f"its worker process {w.index} (pid {w.pid}) {how}; the game ended with it"
            if s is not None:
                m.frame, m.recording_bytes, m.recording_damage = s.last_frame, s.size, s.damage
                m.failure += f"; its recording reaches frame {s.last_frame}"
            log.warning("match %s failed: %s", m.id, m.failure)
        if self._closing:
            return
        quick = asyncio.get_running_loop().time() - w.started < QUICK_DEATH_S
        w.restarts = w.restarts + 1 if quick else 0
        delay = min(30.0, 0.5 * 2 ** w.restarts) if quick else 0.0
        log.warning("worker %d (pid %d) %s; starting another%s", w.index, w.pid, how,
                    f" in {delay:.1f} s" if delay else "")
        await asyncio.sleep(delay)
        if self._closing:
            return
        try:
            await self._spawn(w)
        except Exception as e:
            log.error("worker %d could not be restarted: %s", w.index, e)

    def _ready_workers(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.alive and w.ready is not None and w.ready.done()
                and not w.ready.cancelled() and w.ready.exception() is None]

    async def _request(self, w: WorkerHandle, op: str, timeout: float = REQUEST_TIMEOUT_S, **fields):
        if not w.alive or w.channel is None or w.channel.closed:
            raise Unavailable(f"worker {w.index} is not running")
        request_id, w.next_id = w.next_id, w.next_id + 1
        future = asyncio.get_running_loop().create_future()
        w.pending[request_id] = future
        w.channel.send({"id": request_id, "op": op, **fields})
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            w.pending.pop(request_id, None)
            raise Unavailable(f"worker {w.index} did not answer {op} within {timeout:.0f} s") from None
        if "error" in reply:
            control.raise_error(reply["error"])
        return reply.get("ok")

    # ---- the matches ----

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        """listener("created" | "changed" | "removed", match_id); "changed": its status."""
        self._listeners.append(listener)

    def _remember(self, m: mpb.Match) -> None:
        before = self._records.get(m.id)
        self._records[m.id] = m
        if before is None or before.status != m.status:
            for listener in list(self._listeners):
                listener("changed" if before else "created", m.id)

    def _forget(self, match_id: str) -> None:
        if self._records.pop(match_id, None) is not None:
            for listener in list(self._listeners):
                listener("removed", match_id)

    def match_ids(self) -> list[str]:
        return list(self._records)

    def _place(self, group: str = "") -> WorkerHandle:
        live = self._ready_workers()
        if not live:
            raise Unavailable("no worker process is running")
        if group:
            home = next((w for w in live if w.index == self._groups.get(group)), None)
            if home is None:
                home = self._place()
                self._groups[group] = home.index
            return home
        load = {w.index: self._creating.get(w.index, 0) for w in live}  # creations on their way count too
        for m in self._records.values():
            if m.status not in ENDED and m.placement.worker in load:
                load[m.placement.worker] += 1
        return min(live, key=lambda w: (load[w.index], w.index))

    async def create(self, config: mpb.MatchConfig, placement_group: str = "") -> mpb.Match:
        validated = self.game.validate_config(config)  # InvalidArgument before any worker is involved
        if placement_group and not PLACEMENT_GROUP.fullmatch(placement_group):
            raise InvalidArgument("placement_group", f"{placement_group[:80]!r} is not 1..64 letters, digits or -_.")
        self._check_room()
        w = self._place(placement_group)
        self._creating[w.index] = self._creating.get(w.index, 0) + 1
        try:
            match = mpb.Match.FromString(await self._request(w, "create", match_id=new_match_id(),
                                                             config=validated.SerializeToString()))
        finally:
            self._creating[w.index] -= 1
        self._remember(match)
        self._forget_old()
        log.info("match %s: %s on %s, %d bots, seed %d, worker %d", match.id, mpb.Clock.Name(validated.clock),
                 validated.map, len(validated.bots), validated.seed, w.index)
        return match

    def _worker_tokens(self, tokens: dict[str, Role]) -> dict[str, Role]:
        """The workers' tokens: the daemon's, plus its own for its calls to them (none: no check)."""
        return {**tokens, self._internal_token: Role.ADMIN} if tokens else {}

    async def reload(self, settings: Settings, tls: TlsFiles | None = None) -> None:
        """New tokens, limits and TLS certificate (SIGHUP), here and in every worker; matches go on."""
        self.gate.replace(settings.tokens)
        self.limits.update(settings.limits)
        tokens = self._worker_tokens(settings.tokens)
        self._worker_settings = dataclasses.replace(self._worker_settings, tokens=tokens,
                                                    limits=settings.limits,
                                                    tls=tls or self._worker_settings.tls)  # for workers started later
        wire_tokens = {t: int(role) for t, role in tokens.items()}
        wire_tls = {"cert": str(tls.cert), "key": str(tls.key)} if tls else None
        await asyncio.gather(*(self._request(w, "reload", tokens=wire_tokens, limits=settings.limits, tls=wire_tls)
                               for w in self.workers if w.alive))

    def _check_room(self) -> None:
        live = sum(1 for m in self._records.values() if m.status in (mpb.STARTING, mpb.RUNNING))
        live += sum(self._creating.values())
        limit = self.limits["matches"]
        if live >= limit:
            raise limits.over("matches", limit, live, "too many live matches")

    def record(self, match_id: str) -> mpb.Match:
        m = self._records.get(match_id) or self.archive.get(match_id)
        if m is None:
            raise NotFound(f"no match with id {match_id[:64]!r}")
        return m

    def worker_of(self, match_id: str) -> WorkerHandle | None:
        """The live worker that runs (or ran) the match, if it is still the same process; None
        for a match whose worker is gone and for one the daemon does not know (record() says which)."""
        m = self._records.get(match_id)
        if m is None:
            return None
        w = self.workers[m.placement.worker] if m.placement.worker < len(self.workers) else None
        return w if w is not None and w.alive and w.pid == m.placement.worker_pid else None

    async def get(self, match_id: str) -> mpb.Match:
        await self.upkeep.ready()
        w = self.worker_of(match_id)
        if w is not None:
            try:
                self._records[match_id] = mpb.Match.FromString(await self._request(w, "get", match_id=match_id))
            except (NotFound, Unavailable):
                pass  # forgotten by its worker or the worker just died: the last record stands
        return self.record(match_id)

    async def list(self, which: int = mpb.MATCH_FILTER_ALL) -> list[mpb.Match]:
        """Live ones first, then ended ones (this run's, then the archive's), newest first."""
        await self.upkeep.ready()
        if which != mpb.MATCH_FILTER_ENDED:
            await self._refresh_live()
        known = list(self._records.values())
        known += [m for m in self.archive.matches() if m.id not in self._records]
        if which == mpb.MATCH_FILTER_LIVE:
            known = [m for m in known if m.status not in ENDED]
        elif which == mpb.MATCH_FILTER_ENDED:
            known = [m for m in known if m.status in ENDED]
        return sorted(known, key=lambda m: (m.status in ENDED, -m.started_unix_s))

    async def _refresh_live(self) -> None:
        live = self._ready_workers()
        answers = await asyncio.gather(*(self._request(w, "list") for w in live), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, list):
                for raw in answer:
                    m = mpb.Match.FromString(raw)
                    if m.id in self._records:
                        self._records[m.id] = m

    async def stop(self, match_id: str) -> mpb.Match:
        w = self.worker_of(match_id)
        if w is not None:
            self._records[match_id] = mpb.Match.FromString(await self._request(w, "stop", match_id=match_id))
        return self.record(match_id)

    async def run_command(self, match_id: str, command: str) -> str:
        m = await self.get(match_id)
        w = self.worker_of(match_id)
        if w is None:
            raise FailedPrecondition(f"match {match_id} is {mpb.MatchStatus.Name(m.status)}, not RUNNING")
        return await self._request(w, "command", match_id=match_id, command=command)

    async def state(self, match_id: str) -> bytes | None:
        """The match's current WorldState from its worker; None if its worker is gone."""
        w = self.worker_of(match_id)
        return None if w is None else await self._request(w, "state", match_id=match_id)

    async def metrics(self) -> list[dict]:
        live = self._ready_workers()
        answers = await asyncio.gather(*(self._request(w, "metrics", timeout=10) for w in live),
                                       return_exceptions=True)
        return [dict(a, worker=w.index, pid=w.pid) for w, a in zip(live, answers) if isinstance(a, dict)]

    def _forget_old(self) -> None:
        """Ended matches past max_finished_matches leave memory for the archive (their recordings)."""
        ended = [m for m in self._records.values() if m.status in ENDED]
        for m in ended[: max(0, len(ended) - self.settings.max_finished_matches)]:
            self.archive.add(m)
            self._forget(m.id)

    # ---- the archive ----

    async def describe_recording(self, match_id: str, verify: bool) -> arpb.RecordingInfo:
        await self.upkeep.ready()
        return await asyncio.to_thread(self.archive.describe, match_id, verify)

    async def delete_recording(self, match_id: str) -> int:
        await self.upkeep.ready()
        m = self._records.get(match_id)
        freed = await asyncio.to_thread(self.archive.delete, match_id, m is not None and m.status not in ENDED)
        self._forget(match_id)
        return freed

    def _live_ids(self) -> set[str]:
        return {m.id for m in self._records.values() if m.status not in ENDED}

