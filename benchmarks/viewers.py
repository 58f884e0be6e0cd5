"""100 websocket viewers on one REALTIME match (4 bots, sv_fps 20): the game must keep real
time and the CPU and memory of the daemon and of the match's worker (where the viewers
connect, as the viewer does) must stay bounded. Measured against the same match with no
viewer, in the same run."""
from __future__ import annotations

import asyncio
import json
import time

import websockets

from gametap.v1 import match_pb2 as mpb
from procs import cpu_s, rss_mb

SUBPROTOCOL = "foxglove.websocket.v1"


async def _viewer(address: str, match_id: str, counts: list, index: int, stop: asyncio.Event) -> None:
    async with websockets.connect(f"ws://{address}/ws", subprotocols=[SUBPROTOCOL], max_size=None) as ws:
        await ws.recv()  # serverInfo
        channels = json.loads(await ws.recv())["channels"]
        channel = next(c for c in channels if c["topic"] == f"/matches/{match_id}/world")
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel["id"]}]}))
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            if isinstance(msg, bytes):
                counts[index] += 1


def _window(daemon, client, match: mpb.Match, seconds: float) -> dict:
    pids = (daemon.proc.pid, match.placement.worker_pid)
    f0, c0, t0 = client.get_match(match.id).frame, [cpu_s(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    f1, c1, t1 = client.get_match(match.id).frame, [cpu_s(p) for p in pids], time.monotonic()
    return {"game_fps": (f1 - f0) / (t1 - t0), "daemon_cpu_pct": 100 * (c1[0] - c0[0]) / (t1 - t0),
            "worker_cpu_pct": 100 * (c1[1] - c0[1]) / (t1 - t0),
            "daemon_rss_mb": rss_mb(pids[0]), "worker_rss_mb": rss_mb(pids[1])}


async def _run(daemon, client, match: mpb.Match, viewers: int, seconds: float) -> dict:
    counts, stop = [0] * viewers, asyncio.Event()
    address = f"127.0.0.1:{match.placement.http_port}"
    tasks = [asyncio.create_task(_viewer(address, match.id, counts, i, stop)) for i in range(viewers)]
    await asyncio.sleep(3)  # everyone connected and subscribed
    start = sum(counts)
    window = await asyncio.to_thread(_window, daemon, client, match, seconds)
    received = sum(counts) - start
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    window["updates_per_viewer_per_s"] = received / viewers / seconds
    window["viewers_connected"] = sum(1 for c in counts if c > 0)
    return window


def run(daemon, viewers: int = 100, seconds: float = 15.0) -> dict:
    with daemon.client() as client:
        match = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[
            mpb.BotConfig(name=n, skill=3) for n in ("Sarge", "Grism", "Kyonshi", "Major")]))
        try:
            time.sleep(3)
            alone = _window(daemon, client, match, seconds)
            watched = asyncio.run(_run(daemon, client, match, viewers, seconds))
            after = _window(daemon, client, match, 3)
        finally:
            client.stop_match(match.id)
    return {"sv_fps": 20, "alone": alone, "watched": watched, "rss_after_mb": after["worker_rss_mb"],
            "viewers": viewers}
