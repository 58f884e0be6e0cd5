"""Integration fixtures: the real daemon (a subprocess on loopback) hosting the real OpenArena."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gametap.client import Client
from gametap.v1 import match_pb2 as mpb

ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)
FOUR_BOTS = ("Sarge", "Grism", "Kyonshi", "Major")


@dataclass
class Daemon:
    proc: subprocess.Popen
    grpc: str
    http: str
    state_dir: Path
    output: list[str] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.grpc)

    def game_log(self, match_id: str) -> str:
        return (self.state_dir / "matches" / match_id / "game.log").read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def start_daemon(state_dir: Path, *extra: str, timeout: float = 30) -> Daemon:
    """Starts `gametap serve` on free loopback ports and waits until it says it serves."""
    cmd = [sys.executable, "-m", "gametap", "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--state-dir", str(state_dir), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, bufsize=1)
    lines: list[str] = []
    ready = threading.Event()

    def drain():  # keep reading so the daemon never blocks on a full pipe
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout) or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("daemon did not start:\n" + "\n".join(lines))
    text = "\n".join(lines)
    grpc_addr = re.search(r"gRPC\s+(\S+)", text).group(1)
    http_addr = re.search(r"HTTP\s+http://(\S+)/", text).group(1)
    return Daemon(proc, grpc_addr, http_addr, state_dir, lines)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    d = start_daemon(tmp_path_factory.mktemp("state"), "--no-default-match")
    yield d
    d.stop()


@pytest.fixture
def client(daemon):
    with daemon.client() as c:
        yield c


def lockstep(bots=FOUR_BOTS, skill=3, **kw) -> mpb.MatchConfig:
    return mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=[mpb.BotConfig(name=n, skill=skill) for n in bots], **kw)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Polls predicate() until it returns something truthy (generous bound: only catches hangs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_ended(client: Client, match_id: str, timeout: float = 120) -> mpb.Match:
    return wait_until(lambda: (m := client.get_match(match_id)).status in ENDED and m, timeout,
                      f"match {match_id} to end")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
