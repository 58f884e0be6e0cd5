"""Churn: matches created and ended, as a service sees them for weeks (a vector env makes one per
episode). Rounds of plain matches (gametap.testing.churn: LOCKSTEP to its end, LOCKSTEP stopped,
REALTIME stopped) and, at the same time, short vector env episodes, until every worker has run
`per_worker` matches. Samples the RSS and open fds of the daemon and every worker after each
round; reports each process after the warm-up (what a worker keeps of its ended matches,
Settings.max_finished_matches, is full) and at the end (goal: < 5% growth, < 100 KB per match)."""
from __future__ import annotations

import threading
import time

from gametap.core.settings import Settings
from gametap.testing import Footprint, churn, footprint, vector_episodes
from gametap.v1 import match_pb2 as mpb

ROUND, EPISODES = 200, 40  # plain matches and env episodes per round


def _episodes(server: str, seed: int, played: list[int]) -> None:
    played.append(vector_episodes(server, EPISODES, seed=seed))


def run(daemon, per_worker: int = 1000) -> dict:
    workers = daemon.worker_pids()
    pids = {"daemon": daemon.proc.pid, **{f"worker {i}": pid for i, pid in enumerate(workers)}}
    warmup = 2 * Settings.max_finished_matches * len(workers)
    total = per_worker * len(workers)
    samples: list[tuple[int, dict[str, Footprint]]] = []
    statuses: dict[str, int] = {}
    done, t0 = 0, time.monotonic()
    with daemon.client() as client:
        while done < total:
            played: list[int] = []
            env = threading.Thread(target=_episodes, args=(daemon.grpc, done, played))
            env.start()
            for m in churn(client, ROUND):
                name = mpb.MatchStatus.Name(m.status) + (f": {m.failure[:80]}" if m.failure else "")
                statuses[name] = statuses.get(name, 0) + 1
            env.join()
            done += ROUND + (played[0] if played else 0)
            samples.append((done, {name: footprint(pid) for name, pid in pids.items()}))
            print(f"  churn: {done:5d} matches in {time.monotonic() - t0:4.0f} s, "
                  + ", ".join(f"{n} {f.rss_kb / 1024:.0f} MB {f.fds} fds" for n, f in samples[-1][1].items()), flush=True)
    end_at, end = samples[-1]
    start_at, start = next(((n, s) for n, s in samples[:-1] if n >= warmup), samples[0])  # a short run: round 1
    matches = max(1, end_at - start_at)
    per_process = {}
    for name in pids:
        grew_kb = end[name].rss_kb - start[name].rss_kb
        per_process[name] = {
            "rss_start_mb": start[name].rss_kb / 1024, "rss_end_mb": end[name].rss_kb / 1024,
            "growth_pct": 100 * grew_kb / start[name].rss_kb,
            "kb_per_match": grew_kb / (matches if name == "daemon" else matches / len(workers)),
            "fds_start": start[name].fds, "fds_end": end[name].fds}
    return {"matches": end_at, "measured_from": start_at, "seconds": time.monotonic() - t0,
            "statuses": statuses, "processes": per_process,
            "samples": [{"matches": n, **{k: [f.rss_kb, f.fds] for k, f in s.items()}} for n, s in samples]}
