"""Bare game vs. full pipeline, LOCKSTEP, 4 bots, oa_dm1 (issue: the backbone).

bare: the same ioq3ded command line with libgametap_q3 preloaded and capture off
      (virtual clock on, frame headers only); frames/s measured from their arrival.
full: the real daemon (a subprocess) runs the match in a worker with capture, deltas and
      its recording, and this process follows it with one Watch stream (batched) and one
      Foxglove websocket viewer (a thread), both at the worker, as DESIGN's budget says;
      frames/s measured from the deltas' arrival, and the daemon's and the worker's CPU
      over the same frames.
concurrent: N such matches at once (no watcher), aggregate frames/s from their frame
      counters (GetMatch every 0.2 s: polling faster measurably slows the games), against
      N x the bare game.
Both rates cover the same frame window of the same seeded game, so both runs do
the same game work; rounds are interleaved so machine noise hits both alike.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import connect as ws_connect

from gametap.core.settings import Settings
from gametap.q3 import launch
from gametap.testing import start_daemon
from gametap.v1 import match_pb2 as mpb
from gametap.worker.game_process import GameProcess
from gametap.worker.link.gamelink import GameLink
from gametap.worker.match import LOCKSTEP_FLUSH_FRAMES, VIRTUAL_EPOCH_S
from procs import CpuMeter

BOTS = ("Sarge", "Grism", "Kyonshi", "Major")
SERVER_FPS = 20  # the matches' sv_fps (the default): frames per second of game time


@dataclass(frozen=True)
class Window:
    first: int  # frames before this one are start-up (map load, bots joining)
    last: int


def config(seed: int, frames: int) -> mpb.MatchConfig:
    c = mpb.MatchConfig(map="oa_dm1", clock=mpb.LOCKSTEP, seed=seed, max_frames=frames,
                        bots=[mpb.BotConfig(name=n, skill=3) for n in BOTS])
    return Settings().make_game().validate_config(c)


def rate(times: dict[int, float], window: Window) -> float:
    return (window.last - window.first) / (times[window.last] - times[window.first])


async def _bare(seed: int, window: Window, home: Path) -> float:
    s = Settings()
    cfg = config(seed, window.last)
    launch.write_start_script(cfg, home, s.install.game)
    argv = launch.command_line(s.install, cfg, home, hostname="bench")
    proc = GameProcess(argv, {"LD_PRELOAD": str(s.library), "PATH": "/usr/bin:/bin"}, home / "game.log", home)
    times: dict[int, float] = {}
    core = s.make_game().new_world(cfg, record=False)

    def on_frames(batch):
        now = time.perf_counter()
        last = core.frame
        for frame in range(last - len(batch[1]) + 1, last + 1):
            times[frame] = now

    sock = await proc.start()
    welcome = {"clock": "lockstep", "capture": False, "seed": cfg.seed, "epoch_s": VIRTUAL_EPOCH_S,
               "max_frames": cfg.max_frames, "flush_frames": LOCKSTEP_FLUSH_FRAMES}
    link = GameLink(welcome, lambda m: None, core, on_frames).attach(sock)
    await proc.wait()
    await link.closed
    return rate(times, window)


def bare_game(seed: int, window: Window) -> float:
    return bare_games(1, seed, window)[0]


def bare_games(n: int, seed: int, window: Window) -> list[float]:
    """n bare games at once (seeds seed, seed + 1, ...): each one's frames/s. Their sum is what the
    games alone reach on this machine, the ceiling of any number of matches with no gametap cost."""
    async def run_all(tmp: Path) -> list[float]:
        homes = [tmp / str(i) for i in range(n)]
        for home in homes:
            home.mkdir()
        return list(await asyncio.gather(*(_bare(seed + i, window, home) for i, home in enumerate(homes))))

    with tempfile.TemporaryDirectory(prefix="gametap-bench-") as tmp:
        return asyncio.run(run_all(Path(tmp)))


@dataclass
class PipelineRun:
    fps: float
    delta_bytes: float
    keyframe_bytes: float
    updates: int
    resyncs: int
    viewer_messages: int
    cpu_us_per_frame: dict
    recording_bytes_per_minute: float  # of game time (sv_fps 20), every player's commands included


class WebsocketViewer(threading.Thread):
    """One Foxglove viewer subscribed to a match's channel, counting the updates it gets."""

    def __init__(self, address: str, match_id: str):
        super().__init__(daemon=True)
        self.messages, self._closing = 0, threading.Event()
        self._ws = ws_connect(f"ws://{address}/ws", subprotocols=["foxglove.websocket.v1"], max_size=None)
        self._ws.recv(timeout=10)  # serverInfo
        channels = json.loads(self._ws.recv(timeout=10))["channels"]
        channel = next(c for c in channels if c["topic"] == f"/matches/{match_id}/world")
        self._ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel["id"]}]}))

    def run(self) -> None:
        while not self._closing.is_set():
            try:
                self.messages += isinstance(self._ws.recv(timeout=0.2), bytes)
            except TimeoutError:
                continue
            except Exception:  # the daemon closed the connection
                return

    def close(self) -> int:
        self._closing.set()
        self.join(5)
        self._ws.close()
        return self.messages


def full_pipeline(daemon, seed: int, window: Window) -> PipelineRun:
    with daemon.client() as client:
        match = client.create_match(config(seed, window.last))
        viewer = WebsocketViewer(f"127.0.0.1:{match.placement.http_port}", match.id)  # as the viewer does
        viewer.start()
        meter = CpuMeter(daemon=daemon.proc.pid, worker=match.placement.worker_pid)
        times: dict[int, float] = {}
        sizes = {"delta": [], "keyframe": []}
        updates = resyncs = 0
        for u in client.watch(match.id, max_batch=1024):  # at the match's worker
            kind = u.WhichOneof("update")
            body = getattr(u, kind)
            if body.frame == window.first:
                meter.start()
            elif body.frame == window.last:
                meter.stop()
            times[body.frame] = time.perf_counter()
            sizes[kind].append(body.ByteSize())
            updates += 1
            resyncs += kind == "keyframe"
        final = client.get_match(match.id)
        if final.status != mpb.FINISHED:
            raise RuntimeError(f"benchmark match ended {mpb.MatchStatus.Name(final.status)}: {final.failure}")
        keyframe = client.get_state(match.id).ByteSize()  # a keyframe of the final state
        viewed = viewer.close()
        recorded = daemon.match_dir(match.id).joinpath("updates.gtrec").stat().st_size
    frames = window.last - window.first
    cpu = {name: 1e6 * seconds / frames for name, seconds in meter.used.items() if name != "client"}
    minutes = final.frame / SERVER_FPS / 60
    return PipelineRun(rate(times, window), sum(sizes["delta"]) / max(1, len(sizes["delta"])),
                       keyframe, updates, resyncs - 1, viewed, cpu, recorded / minutes)


def concurrent(daemon, n: int, seed: int, window: Window) -> float:
    """Aggregate frames/s of n matches run at once (no watcher): the sum of their rates over the window."""
    with daemon.client() as client:
        matches = [client.create_match(config(seed, window.last)) for _ in range(n)]  # the bare game's work, n times
        samples: dict[str, list[tuple[float, int]]] = {m.id: [] for m in matches}
        running = set(samples)
        while running:
            for match_id in list(running):
                m = client.get_match(match_id)
                samples[match_id].append((time.perf_counter(), m.frame))
                if m.status != mpb.RUNNING and m.status != mpb.STARTING:
                    running.discard(match_id)
                    if m.status != mpb.FINISHED:
                        raise RuntimeError(f"benchmark match ended {mpb.MatchStatus.Name(m.status)}: {m.failure}")
            time.sleep(0.2)
    return sum(_rate_from_samples(s, window) for s in samples.values())


def _rate_from_samples(samples: list[tuple[float, int]], window: Window) -> float:
    """Frames per second: the least-squares slope of frame over time, samples inside the window."""
    inside = [(t, f) for t, f in samples if window.first <= f < window.last]
    if len(inside) < 3:
        raise RuntimeError(f"only {len(inside)} samples inside frames {window.first}..{window.last}: use more frames")
    mean_t = sum(t for t, _ in inside) / len(inside)
    mean_f = sum(f for _, f in inside) / len(inside)
    return (sum((t - mean_t) * (f - mean_f) for t, f in inside) / sum((t - mean_t) ** 2 for t, _ in inside))

def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


DEFAULT_WINDOW = Window(1000, 21000)


def run(rounds: int = 7, seed: int = 1234, window: Window = DEFAULT_WINDOW, report=print) -> dict:
    with tempfile.TemporaryDirectory(prefix="gametap-bench-state-") as state:
        daemon = start_daemon(Path(state), "--no-default-match")
        try:
            bare, full, two = [], [], []
            for r in range(rounds):
                bare.append(bare_game(seed, window))
                full.append(full_pipeline(daemon, seed, window))
                # twice the frames: sampled every 0.2 s, the rate needs a longer run
                long = Window(window.first, window.first + 2 * (window.last - window.first))
                two.append(concurrent(daemon, 2, seed, long) if r < max(3, rounds // 2) else None)
                report(f"  round {r + 1}/{rounds}: bare {bare[-1]:,.0f} frames/s, full {full[-1].fps:,.0f} frames/s"
                       + (f", 2 matches {two[-1]:,.0f} frames/s" if two[-1] else ""))
        finally:
            daemon.stop()
    bare_fps, full_fps = median(bare), median([f.fps for f in full])
    last = full[-1]
    cpu = {name: median([f.cpu_us_per_frame[name] for f in full]) for name in last.cpu_us_per_frame}
    paired_two = [t / (2 * b) for b, t in zip(bare, two) if t]
    return {
        "bare_fps": bare_fps, "full_fps": full_fps, "ratio": full_fps / bare_fps,
        "paired_ratio": median([f.fps / b for b, f in zip(bare, full)]),
        "bare_runs": bare, "full_runs": [f.fps for f in full],
        "two_matches_fps": median([t for t in two if t]), "two_matches_ratio": median(paired_two),
        "cpu_us_per_frame": cpu,
        "delta_bytes": last.delta_bytes, "keyframe_bytes": last.keyframe_bytes,
        "watch_resyncs": last.resyncs, "viewer_messages": last.viewer_messages, "frames": window.last - window.first,
        "recording_bytes_per_minute": median([f.recording_bytes_per_minute for f in full]),
    }
