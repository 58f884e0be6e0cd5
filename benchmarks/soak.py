"""Soak: a REALTIME match (oa_dm1, 4 bots) with 20 websocket viewers and 5 gRPC watchers on it
while an agent joins, plays a few steps and leaves every few seconds, for `minutes`. Reports the
RSS of the daemon and the match's worker after a warm-up and at the end (goal: < 5% growth) and
every error seen: a viewer, watcher or agent that failed, or an ERROR or Traceback line in the
daemon's output (goal: none)."""
from __future__ import annotations

import asyncio
import threading
import time

from gametap.client import AgentStream
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from procs import rss_mb
from viewers import _viewer

WARMUP_S = 30.0


def _watcher(client, match_id: str, stop: threading.Event, counts: list, index: int, errors: list) -> None:
    try:
        updates = client.watch(match_id)
        for _ in updates:
            counts[index] += 1
            if stop.is_set():
                updates.close()
                return
    except Exception as e:  # noqa: BLE001 - counted and reported
        if not stop.is_set():
            errors.append(f"watcher {index}: {e!r}"[:300])


def _agents(client, match_id: str, stop: threading.Event, every_s: float, joins: list, errors: list) -> None:
    while not stop.wait(every_s):
        try:
            with AgentStream(client, match_id, [apb.SlotSpec(name=f"soak{len(joins)}")]) as agent:
                for _ in range(20):
                    agent.observe()
                    agent.act([apb.Action(client=agent.clients[0], forward=1.0)])
            joins.append(time.monotonic())
        except Exception as e:  # noqa: BLE001
            errors.append(f"agent join {len(joins)}: {e!r}"[:300])


async def _viewers(address: str, match_id: str, n: int, stop: asyncio.Event, counts: list) -> list:
    tasks = [asyncio.create_task(_viewer(address, match_id, counts, i, stop)) for i in range(n)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [f"viewer {i}: {r!r}"[:300] for i, r in enumerate(results) if isinstance(r, BaseException)]


def _rss(pids) -> float:
    return sum(rss_mb(p) for p in pids)


def run(daemon, minutes: float = 10.0, viewers: int = 20, watchers: int = 5, join_every_s: float = 3.0) -> dict:
    with daemon.client() as client:
        match = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[
            mpb.BotConfig(name=n, skill=3) for n in ("Sarge", "Grism", "Kyonshi", "Major")]))
        pids = (daemon.proc.pid, match.placement.worker_pid)
        errors: list[str] = []
        stop, viewer_stop = threading.Event(), None
        watch_counts, viewer_counts, joins = [0] * watchers, [0] * viewers, []
        threads = [threading.Thread(target=_watcher, args=(client, match.id, stop, watch_counts, i, errors))
                   for i in range(watchers)]
        threads.append(threading.Thread(target=_agents, args=(client, match.id, stop, join_every_s, joins, errors)))
        loop = asyncio.new_event_loop()
        viewer_stop = asyncio.Event()
        address = f"127.0.0.1:{match.placement.http_port}"
        viewing = threading.Thread(target=lambda: errors.extend(loop.run_until_complete(
            _viewers(address, match.id, viewers, viewer_stop, viewer_counts))))
        log_start = len(daemon.output)
        try:
            for t in threads + [viewing]:
                t.start()
            time.sleep(WARMUP_S)
            start, t0 = _rss(pids), time.monotonic()
            peak, end_at = start, t0 + minutes * 60
            while time.monotonic() < end_at:
                time.sleep(10)
                peak = max(peak, _rss(pids))
                print(f"  soak: {(time.monotonic() - t0) / 60:4.1f} min, RSS {_rss(pids):.0f} MB, "
                      f"{len(joins)} agent joins, {len(errors)} errors", flush=True)
            end = _rss(pids)
            status = client.get_match(match.id)
        finally:
            stop.set()
            loop.call_soon_threadsafe(viewer_stop.set)
            for t in threads + [viewing]:
                t.join(30)
            client.stop_match(match.id)
    logged = [line for line in daemon.output[log_start:] if " ERROR " in line or "Traceback" in line]
    return {"minutes": minutes, "rss_start_mb": start, "rss_end_mb": end, "rss_peak_mb": peak,
            "growth_pct": 100 * (end / start - 1), "errors": errors + logged, "agent_joins": len(joins),
            "watch_updates": sum(watch_counts), "viewer_updates": sum(viewer_counts),
            "viewers_receiving": sum(1 for c in viewer_counts if c), "match_status": mpb.MatchStatus.Name(status.status)}
