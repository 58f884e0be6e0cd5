"""Run a real daemon as a subprocess on free loopback ports (tests, benchmarks, and gametap.ray's
per-node actor)."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gametap.client import Client
from gametap.core import parent_death
from gametap.recordings import paths
from gametap.v1 import match_pb2 as mpb


@dataclass
class DaemonProcess:
    proc: subprocess.Popen
    grpc: str
    http: str
    state_dir: Path
    output: list[str] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.grpc)

    def match_dir(self, match_id: str) -> Path:
        return paths.match_dir(self.state_dir, match_id)

    def game_log(self, match_id: str) -> str:
        return (self.match_dir(match_id) / "game.log").read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The daemon's worker processes (its children running gametap.worker)."""
        return [pid for pid in children(self.proc.pid) if b"gametap.worker" in _cmdline(pid)]

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            last = "\n".join(self.output[-40:])
            raise AssertionError(f"the daemon did not stop within {timeout:.0f} s of {sig!r}; its last lines:\n{last}") from None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daemon(state_dir: Path, *extra: str, timeout: float = 30, cwd: Path | None = None,
                 env: dict[str, str] | None = None, die_with_parent: bool = False) -> DaemonProcess:
    """Starts `gametap serve` on free loopback ports and waits until it says it serves.
    Later options in `extra` win over the defaults (e.g. a fixed --http); env: added to ours.
    die_with_parent: the kernel sends the daemon SIGTERM when this thread's process dies (a
    killed Ray actor must not leave its daemon and games running)."""
    cmd = [sys.executable, "-m", "gametap", "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--state-dir", str(state_dir), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, bufsize=1, cwd=cwd, env={**os.environ, **(env or {})},
                            preexec_fn=parent_death.die_with_parent if die_with_parent else None)
    lines: list[str] = []
    ready = threading.Event()

    def drain():  # keep reading so the daemon never blocks on a full pipe
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    serving = ready.wait(timeout) and any(line.startswith("Ctrl-C") for line in lines)
    if not serving or proc.poll() is not None:  # its output ended without saying it serves: it exited
        proc.kill()
        raise RuntimeError("daemon did not start:\n" + "\n".join(lines))
    text = "\n".join(lines)
    grpc_addr = re.search(r"^  gRPC\s+(\S+)$", text, re.MULTILINE).group(1)
    http_addr = re.search(r"^  HTTP\s+https?://(\S+)/$", text, re.MULTILINE).group(1)
    return DaemonProcess(proc, grpc_addr, http_addr, (cwd or Path.cwd()) / state_dir, lines)


def start_daemon_with_tokens(state_dir: Path, tokens: dict[str, str]) -> DaemonProcess:
    """start_daemon with no default match and these access tokens ({token: role})."""
    config = state_dir / "gametap.toml"
    config.write_text("[auth.tokens]\n" + "".join(f'"{t}" = "{role}"\n' for t, role in tokens.items()))
    return start_daemon(state_dir, "--no-default-match", "--config", str(config))


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Polls predicate() until it returns something truthy (a generous bound that only catches hangs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass  # a thread that just ended
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass(frozen=True)
class Footprint:
    """What a process holds: resident memory and open file descriptors."""
    rss_kb: int
    fds: int


def footprint(pid: int) -> Footprint:
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
    return Footprint(rss, len(os.listdir(f"/proc/{pid}/fd")))


_ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)
CHURN_KINDS = ("lockstep to its end", "lockstep stopped", "realtime stopped")


def churn(client: Client, count: int, concurrency: int = 4, timeout: float = 60) -> list[mpb.Match]:
    """Creates `count` short matches, `concurrency` at a time, cycling through CHURN_KINDS (a
    LOCKSTEP match that runs to max_frames, one stopped while it runs, a REALTIME one stopped
    once running); returns them as they ended."""
    def one(i: int) -> mpb.Match:
        kind = CHURN_KINDS[i % len(CHURN_KINDS)]
        clock = mpb.REALTIME if kind.startswith("realtime") else mpb.LOCKSTEP
        m = client.create_match(mpb.MatchConfig(clock=clock, seed=i, max_frames=150 if kind.endswith("end") else 0,
                                                bots=[mpb.BotConfig(name="Sarge", skill=1)]))
        if kind.endswith("stopped"):
            wait_until(lambda: client.get_match(m.id).status != mpb.STARTING, timeout, f"match {m.id} to run")
            client.stop_match(m.id)
        return wait_until(lambda: (s := client.get_match(m.id)).status in _ENDED and s, timeout, f"match {m.id} to end")

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def vector_episodes(server: str, episodes: int, num_envs: int = 2, seed: int = 0) -> int:
    """Plays at least `episodes` 3-step episodes of a vector env (each one a match) with random
    actions; returns how many it played."""
    from gametap.client.envs import OpenArenaVectorEnv  # the envs extra: only what uses it needs it

    envs = OpenArenaVectorEnv(num_envs, server=server, max_steps=3, frames_per_step=1, action_format="box")
    try:
        envs.reset(seed=seed)
        envs.action_space.seed(seed)
        played = 0
        while played < episodes:
            _, _, terminated, truncated, _ = envs.step(envs.action_space.sample())
            played += int((terminated | truncated).sum())
        return played
    finally:
        envs.close()
