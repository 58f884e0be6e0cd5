"""GameProcess: one game server process with libgametap preloaded and a link socket.

Owns the process's lifetime and its console output: every line goes to the
match's log file, the last lines are kept for failure reports, and listeners
(RunCommand) can follow the output.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections import deque
from collections.abc import Callable
from pathlib import Path

LOG_TAIL_LINES = 200
logger = logging.getLogger(__name__)


class GameProcess:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path):
        self.argv = argv
        self._env = env
        self._log_path = log_path
        self._cwd = cwd
        self._proc: asyncio.subprocess.Process | None = None
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._listeners: list[Callable[[str], None]] = []
        self._pump: asyncio.Task | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> socket.socket:
        """Starts the game; returns the daemon's end of the link socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(self._env, GAMETAP_LINK_FD=str(theirs.fileno()), GAMETAP_PARENT_PID=str(os.getpid()))
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, env=env, cwd=self._cwd, pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C goes to the daemon, which stops its games
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._pump = asyncio.create_task(self._pump_output(), name=f"game-output-{self._proc.pid}")
        return ours

    async def _pump_output(self) -> None:
        """Reads the game's output to its end (a full pipe would stall the game) into game.log,
        the tail and the listeners. A log that cannot be written (a full disk) stops, logged;
        the reading goes on."""
        assert self._proc and self._proc.stdout
        with open(self._log_path, "ab", buffering=0) as log:
            writing = True
            while raw := await self._proc.stdout.readline():
                if writing:
                    try:
                        log.write(raw)
                    except OSError as e:
                        writing = False
                        logger.warning("%s stopped: %s; the game's output is still read", self._log_path, e)
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._tail.append(line)
                for listener in list(self._listeners):
                    listener(line)

    def tail(self, lines: int = 20) -> list[str]:
        return list(self._tail)[-lines:]

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.remove(listener)

    async def wait(self) -> int:
        """Waits for the process to exit and its output to be read; returns the exit code
        (negative: killed by that signal)."""
        assert self._proc
        self.returncode = await self._proc.wait()
        if self._pump:
            await self._pump
        return self.returncode

    def set_cpus(self, cpus: set[int]) -> None:
        """Runs the game (every thread of it) on these cores only."""
        if self._proc is None or self._proc.returncode is not None:
            return
        try:
            for thread in os.listdir(f"/proc/{self._proc.pid}/task"):
                os.sched_setaffinity(int(thread), cpus)
        except OSError:
            pass  # the game just ended

    def signal(self, sig: int) -> None:
        if self._proc and self._proc.returncode is None:
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def stop(self, grace_s: float = 5.0) -> int:
        """SIGTERM (the server shuts down cleanly), then SIGKILL after grace_s."""
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), grace_s)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            return await self.wait()
