"""100 websocket viewers on one REALTIME match (4 bots, sv_fps 20): the game must keep real
time and the daemon's CPU and memory must stay bounded. Measured against the same match
with no viewer, in the same run."""
from __future__ import annotations

import asyncio
import json
import os
import time

import websockets

from gametap.v1 import match_pb2 as mpb

SUBPROTOCOL = "foxglove.websocket.v1"


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().split(")")[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


def _window(daemon, client, match_id: str, seconds: float) -> dict:
    pid = daemon.proc.pid
    f0, c0, t0 = client.get_match(match_id).frame, _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    f1, c1, t1 = client.get_match(match_id).frame, _cpu_s(pid), time.monotonic()
    return {"game_fps": (f1 - f0) / (t1 - t0), "daemon_cpu_pct": 100 * (c1 - c0) / (t1 - t0), "daemon_rss_mb": _rss_mb(pid)}


async def _run(daemon, client, match_id: str, viewers: int, seconds: float) -> dict:
    counts, stop = [0] * viewers, asyncio.Event()
    tasks = [asyncio.create_task(_viewer(daemon.http, match_id, counts, i, stop)) for i in range(viewers)]
    await asyncio.sleep(3)  # everyone connected and subscribed
    start = sum(counts)
    window = await asyncio.to_thread(_window, daemon, client, match_id, seconds)
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
            alone = _window(daemon, client, match.id, seconds)
            watched = asyncio.run(_run(daemon, client, match.id, viewers, seconds))
            after = _window(daemon, client, match.id, 3)
        finally:
            client.stop_match(match.id)
    return {"sv_fps": 20, "alone": alone, "watched": watched, "rss_after_mb": after["daemon_rss_mb"],
            "viewers": viewers}
