"""Match: one game process and everything the daemon keeps about it.

Lifecycle (enforced): STARTING -> RUNNING -> one of FINISHED / STOPPED / FAILED.
The game's link bytes flow into its WorldCore (the game's hot path, gametap.core.game),
whose batches of serialized updates go to the recording and the Hub. The match
keeps its final state after the game is gone, so GetState still answers.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

from gametap.core.errors import FailedPrecondition, InvalidArgument
from gametap.core.game import Game
from gametap.core.limits import Limits
from gametap.core.metrics import MatchMetrics
from gametap.core.settings import Settings
from gametap.recordings import provenance, recording
from gametap.recordings.paths import RECORDING_NAME, match_dir
from gametap.recordings.recording import Recorder
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import recording_pb2 as rpb
from gametap.worker.agents.host import AgentHost
from gametap.worker.game_process import GameProcess
from gametap.worker.hub import Hub
from gametap.worker.link.gamelink import GameLink

log = logging.getLogger(__name__)

VIRTUAL_EPOCH_S = 1_700_000_000  # LOCKSTEP games start their clock here, so runs repeat
STARTUP_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 10.0
MAX_COMMAND_CHARS = 900
LOCKSTEP_FLUSH_FRAMES = 128  # the library sends free-running LOCKSTEP frames in batches of this many:
# every message to another process costs a wake-up, which on a VM costs more than the frames
TEND_S = 0.2                # a daemon crash loses at most this much of a recording
STALL_S = 1.75              # a running game that runs no frame for this long (not waiting for agents) failed
_ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)


class FrameRate:
    """Frames per second of wall-clock time over the last few seconds."""

    def __init__(self, window_s: float = 2.0):
        self._samples: deque[tuple[float, int]] = deque()
        self._window = window_s
        self.last_at = time.monotonic()  # when the last frames came

    def add(self, frame: int) -> float:
        """The frame the last batch ended at; returns when it came (time.monotonic())."""
        now = self.last_at = time.monotonic()
        self._samples.append((now, frame))
        while len(self._samples) > 2 and now - self._samples[1][0] > self._window:
            self._samples.popleft()
        return now

    def value(self) -> float:
        """Frames over the window up to now: it decays to 0 when frames stop coming."""
        if len(self._samples) < 2:
            return 0.0
        (t0, f0), (t1, f1) = self._samples[0], self._samples[-1]
        now = time.monotonic()
        if now - t1 > self._window:
            return 0.0
        return (f1 - f0) / (now - t0) if now > t0 else 0.0


class Match:
    def __init__(self, match_id: str, config: mpb.MatchConfig, settings: Settings, game: Game):
        self.id = match_id
        self.config = config
        self.settings = settings
        self.game = game
        self.status = mpb.STARTING
        self.failure = ""
        self.log_tail: list[str] = []
        self.dir = match_dir(settings.state_dir, match_id)
        self.world = game.new_world(config, record=settings.record)
        self.hub = Hub(self.world.keyframe)
        self.agents = AgentHost(self)
        self.recorder: Recorder | None = None
        self.process: GameProcess | None = None
        self.link: GameLink | None = None
        self.udp_port = 0  # REALTIME: where the game listens for human clients (the manager's gametap.worker.game_ports)
        self.frame_rate = FrameRate()
        self.metrics = MatchMetrics()  # frame and agent step times (gametap.core.metrics: /metrics)
        self.started_unix_s, self.ended_unix_s = time.time(), 0.0
        self.final_scores: list[mpb.PlayerScore] = []
        self._stop_requested = False
        self._level_over = False  # the game's own limits ended the match
        self._internal_error: str | None = None
        self._first_frame = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self.ended = asyncio.Event()
        self.on_change: Callable[[Match], None] | None = None  # hears of RUNNING and of the end
        # The worker's own core, and every core (gametap.worker.process.pin_to_core): where the
        # game runs is the manager's choice (MatchManager.agents_stepping).
        self.home_cpu: int | None = None
        self.all_cpus: set[int] = set()
        self._home: bool | None = None
        self.on_stepping: Callable[[Match, bool], None] | None = None  # the manager's core policy
        self.limits = Limits(settings.limits)  # the manager's, shared by its matches

    # ---- lifecycle ----

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "home").mkdir(exist_ok=True)
        if self.settings.record:
            header = provenance.header(self.id, self.config, await self._game_facts())
            self.recorder = Recorder(self.dir / RECORDING_NAME, header, self.settings.record_max_bytes)
        realtime = self.config.clock == mpb.REALTIME
        argv = self.game.command_line(self.config, self.dir / "home", hostname=f"gametap {self.id}",
                                      udp_port=self.udp_port or None, bind_ip=self.settings.game_bind,
                                      client_timeout_s=self.settings.client_timeout_s)
        library = self.game.library
        env = dict(os.environ, LD_PRELOAD=_preload(str(library))) if library is not None else dict(os.environ)
        self.process = GameProcess(argv, env, self.dir / "game.log", cwd=self.dir)
        sock = await self.process.start()
        self.keep_game_home(False)  # it inherited the worker's one core
        welcome = {
            "clock": "realtime" if realtime else "lockstep",
            "capture": True,
            "seed": self.config.seed,
            "epoch_s": VIRTUAL_EPOCH_S,
            "max_frames": self.config.max_frames,
            "flush_frames": 1 if realtime else LOCKSTEP_FLUSH_FRAMES,
            "run_until": self.agents.run_until,
        }
        self.link = GameLink(welcome, self._check_module, self.world, self._on_frames,
                             self.agents.on_waiting).attach(sock)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"match-{self.id}")
        self._tender = asyncio.create_task(self._tend(), name=f"tend-{self.id}")

    async def _tend(self) -> None:
        """Every TEND_S while the match lasts: flush the recording (a daemon crash loses at most
        that much of it), and fail a stalled game."""
        while not self.ended.is_set():
            await asyncio.sleep(TEND_S)
            if self.recorder is not None:
                self.recorder.flush()
            if self._stalled():
                await self.process.stop(grace_s=1)
                return

    def _stalled(self) -> bool:
        """A game whose process lives but runs no frames (an error drop, `killserver`) has failed.
        A LOCKSTEP game waiting at the gate for its agents is not stalled: it said so."""
        if self.status != mpb.RUNNING or self._stop_requested or self.agents.waiting is not None:
            return False
        idle = time.monotonic() - self.frame_rate.last_at
        if idle <= STALL_S:
            return False
        said = last_words(self.process.tail(40) if self.process else [])
        self._internal_error = f"the game stopped running frames ({idle:.1f} s without one; its last words: {said})"
        return True

    @property
    def recording_path(self) -> Path | None:
        """The match's recording, when it is recorded."""
        return self.recorder.path if self.recorder is not None else None

    async def _game_facts(self) -> dict:
        try:
            return await asyncio.to_thread(self.game.provenance, self.config)
        except Exception as e:  # an unreadable game file: record that, and run the match anyway
            log.warning("match %s: the game's provenance could not be read: %s", self.id, e)
            return {"game": self.game.name, "provenance_error": str(e)}

    def _check_module(self, fields: dict) -> str | None:
        refusal = self.game.check_module(fields)
        if refusal is None:
            self.record(recording.entry(module=rpb.GameModuleRecord(
                path=str(fields.get("path", "")), build_id=str(fields.get("build_id", "")))))
        return refusal

    def record(self, entry: bytes) -> None:
        """Appends a serialized RecordEntry (an agent's join, step or leave) to the recording."""
        if self.recorder is not None:
            self.recorder.write(entry)

    def agents_stepping(self, stepping: bool) -> None:
        """Agents started (or stopped) stepping the game: its manager decides where it runs."""
        if self.on_stepping is not None:
            self.on_stepping(self, stepping)
        else:
            self.keep_game_home(stepping)

    def keep_game_home(self, home: bool) -> None:
        """The game on its worker's core, or on any core."""
        if self.home_cpu is not None and self.process is not None and home != self._home:
            self._home = home
            self.process.set_cpus({self.home_cpu} if home else self.all_cpus)

    def _on_frames(self, batch: tuple) -> None:
        """A batch of frames the world applied: (FRAMES, deltas, keyframes, records, reset)."""
        _, deltas, keyframes, records, reset = batch
        if self.recorder is not None:
            self.recorder.write_records(records)
        self.hub.publish_batch(deltas, keyframes)
        self.agents.on_frames()
        world = self.world
        self.metrics.frames(world.frame, self.frame_rate.add(world.frame))
        if world.level_exited and not self._stop_requested:
            self._stop_requested = self._level_over = True  # the game ended the level: end the match
            self.link.quit()
        elif reset and self.status == mpb.RUNNING:
            for command in self.game.map_start_commands():  # a console command loaded another map
                self.link.send_command(command)
        if self.status == mpb.STARTING and deltas:
            self.status = mpb.RUNNING
            self._first_frame.set()
            self.agents.on_running()
            self._changed()

    async def _supervise(self) -> None:
        assert self.process and self.link
        try:
            started = asyncio.ensure_future(self._first_frame.wait())
            exited = asyncio.ensure_future(self.process.wait())
            await asyncio.wait({started, exited}, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            if not started.done() and not exited.done():
                self._internal_error = f"the game did not run its first frame within {STARTUP_TIMEOUT_S:.0f} s"
                await self.process.stop()
            started.cancel()
            returncode = await exited
            try:
                await asyncio.wait_for(asyncio.shield(self.link.closed), 5)
            except TimeoutError:
                self.link.close()
            self._finish(returncode)
        except asyncio.CancelledError:
            await self.process.stop(grace_s=2)
            self._finish(self.process.returncode)
            raise
        finally:
            self._close_outputs()

    def _finish(self, returncode: int | None) -> None:
        end = self.link.end if self.link else None
        error = self._internal_error or (self.link.error if self.link else None)
        if error:
            self._fail(error)
        elif self._level_over or (end and end.get("reason") == "max_frames"):
            self.status = mpb.FINISHED
        elif self._stop_requested:
            self.status = mpb.STOPPED
        elif returncode == 0:  # the game quit by itself (a `quit` console command)
            self.status = mpb.FINISHED
        elif returncode is not None and returncode < 0:
            self._fail(f"the game was killed by {signal.Signals(-returncode).name}")
        else:
            self._fail(f"the game exited with code {returncode}")

    def _fail(self, reason: str) -> None:
        self.status = mpb.FAILED
        self.failure = reason
        self.log_tail = self.process.tail(20) if self.process else []
        log.warning("match %s failed: %s", self.id, reason)

    def fail_to_start(self, reason: str) -> None:
        self._fail(reason)
        self._close_outputs()

    def _close_outputs(self) -> None:
        """The match is over: watchers and agents see the end, the recording is complete."""
        self.hub.close()
        self.agents.close()
        self.ended_unix_s = time.time()
        self.final_scores = [mpb.PlayerScore(client=c, name=n, score=score)
                             for c, n, score in sorted(self.game.scores(self.world.state()), key=lambda x: (-x[2], x[0]))]
        if self.recorder is not None:
            self.recorder.finish(recording.entry(end=rpb.MatchEndRecord(
                status=self.status, failure=self.failure, frame=self.world.frame, ended_unix_s=self.ended_unix_s,
                recording_stopped=self.recorder.stopped, scores=self.final_scores)))
        self.ended.set()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Ends the game (console quit, then SIGTERM, then SIGKILL) and waits for the end."""
        if self.status in _ENDED or self._supervisor is None:
            return
        self._stop_requested = True
        if self.link:
            self.agents.release_for_stop()
            self.link.quit()
        try:
            await asyncio.wait_for(self.ended.wait(), grace_s)
        except TimeoutError:
            await self.process.stop(grace_s)
            await self.ended.wait()

    def end_soon(self) -> None:
        """Stops the match without waiting (from code that cannot await)."""
        if not self.is_ended and not self._stop_requested:
            self._stopping = asyncio.get_running_loop().create_task(self.stop(), name=f"stop-{self.id}")

    @property
    def is_ended(self) -> bool:
        return self.status in _ENDED

    # ---- console ----

    async def run_command(self, command: str, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        command = command.strip()
        if not command or len(command) > MAX_COMMAND_CHARS or any(c in command for c in "\r\n\0"):
            raise InvalidArgument("command", f"must be one line of 1..{MAX_COMMAND_CHARS} characters")
        if self.status != mpb.RUNNING:
            raise FailedPrecondition(f"match {self.id} is {mpb.MatchStatus.Name(self.status)}, not RUNNING")
        marker = uuid.uuid4().hex[:12]
        begin, end = f"gametap-begin-{marker}", f"gametap-end-{marker}"
        lines: list[str] = []
        done = asyncio.get_running_loop().create_future()
        collecting = False

        def listen(line: str) -> None:
            nonlocal collecting
            if line == end and not done.done():
                done.set_result(None)
            elif collecting:
                lines.append(line)
            elif line == begin:
                collecting = True

        self.process.add_listener(listen)
        try:
            self.link.send_command(f"echo {begin}\n{command}\necho {end}")
            await asyncio.wait_for(asyncio.shield(done), timeout_s)
        except TimeoutError:
            raise FailedPrecondition(f"the game did not run the command within {timeout_s:.0f} s") from None
        finally:
            self.process.remove_listener(listen)
        return "\n".join(lines)

    # ---- reporting ----

    def to_proto(self) -> mpb.Match:
        return mpb.Match(
            id=self.id, config=self.config, status=self.status, frame=self.world.frame,
            level_time_ms=self.world.level_time_ms, failure=self.failure, log_tail=self.log_tail,
            game_port=self.udp_port, frames_per_second=0.0 if self.is_ended else self.frame_rate.value(),
            pid=(self.process.pid or 0) if self.process and not self.is_ended else 0,
            dropped_updates=self.hub.dropped, agent_clients=self.agents.agent_clients,
            action_timeouts=self.agents.action_timeouts,
            recording_stopped=self.recorder.stopped if self.recorder is not None else "",
            started_unix_s=self.started_unix_s, ended_unix_s=self.ended_unix_s,
            recording_bytes=self.recorder.size if self.recorder is not None and self.is_ended else 0,
            scores=self.final_scores,
        )


def last_words(tail: list[str]) -> str:
    """What a stopped game said last: its engine error if it printed one (an error drop prints a
    dozen shutdown lines after it), else its last three lines."""
    errors = [line for line in tail if line.startswith("ERROR:")]
    return errors[-1] if errors else " | ".join(tail[-3:])


def _preload(library: str) -> str:
    existing = os.environ.get("LD_PRELOAD", "")
    return f"{library}:{existing}" if existing else library


