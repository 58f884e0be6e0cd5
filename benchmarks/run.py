"""`make bench`: gametap's performance figures, as ratios against the bare game in the same run.

Prints a table and writes benchmarks/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agents  # noqa: E402
import pipeline  # noqa: E402
import transport  # noqa: E402
import viewers  # noqa: E402
from gametap.testing import start_daemon  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=7, help="interleaved bare/full rounds (medians reported)")
    p.add_argument("--frames", type=int, default=20000, help="measured frames per run")
    p.add_argument("--steps", type=int, default=3000, help="measured agent steps per run")
    p.add_argument("--only", choices=("pipeline", "agents", "viewers"), help="run one part")
    args = p.parse_args()
    print(f"gametap benchmarks on {platform.node()} ({platform.processor() or platform.machine()}), "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    results = {}
    if args.only in (None, "pipeline"):
        results["pipeline"] = run_pipeline(args)
    if args.only in (None, "agents"):
        results["agents"] = run_agents(args, results.get("pipeline", {}).get("bare_fps"))
    if args.only in (None, "viewers"):
        results["viewers"] = run_viewers()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps({**results, "time": time.time()}, indent=2))
    print(f"\nwritten to {RESULTS / 'latest.json'}")
    return 0


def run_pipeline(args) -> dict:
    print(f"pipeline: LOCKSTEP oa_dm1, 4 bots (skill 3), seed 1234, frames 1000..{1000 + args.frames}, "
          f"{args.rounds} interleaved rounds")
    r = pipeline.run(rounds=args.rounds, window=pipeline.Window(1000, 1000 + args.frames))
    print()
    print(f"  bare game (library loaded, capture off)     {r['bare_fps']:>9,.0f} frames/s")
    print("  full pipeline (capture, deltas, recording,")
    print("      one batched Watch stream, one websocket")
    print(f"      viewer)                                 {r['full_fps']:>9,.0f} frames/s")
    print(f"  ratio full / bare, median of paired rounds  {r['paired_ratio']:>9.3f}   (goal >= 0.90)")
    print(f"  ratio of the medians                        {r['ratio']:>9.3f}   (more exposed to this VM's drift)")
    print(f"  delta size (avg)                            {r['delta_bytes']:>9,.0f} bytes")
    print(f"  keyframe size (avg)                         {r['keyframe_bytes']:>9,.0f} bytes"
          f"   (delta/keyframe {r['delta_bytes'] / r['keyframe_bytes']:.2f}; budget <= 0.10)")
    print(f"  watcher resyncs                             {r['watch_resyncs']:>9d}")
    print(f"  websocket viewer updates (capped at 240/s)  {r['viewer_messages']:>9,d}")
    return r


def run_viewers() -> dict:
    print("\nviewers: REALTIME oa_dm1, 4 bots, sv_fps 20; 100 Foxglove websocket clients in one process")
    with tempfile.TemporaryDirectory(prefix="gametap-bench-viewers-") as state:
        daemon = start_daemon(Path(state), "--no-default-match")
        try:
            r = viewers.run(daemon)
        finally:
            daemon.stop()
    alone, watched = r["alone"], r["watched"]
    print(f"  game frames/s, no viewer / 100 viewers      {alone['game_fps']:>6.2f} / {watched['game_fps']:.2f}"
          f"   ({100 * (watched['game_fps'] / r['sv_fps'] - 1):+.1f}% of sv_fps; goal within 2%)")
    print(f"  daemon CPU, no viewer / 100 viewers         {alone['daemon_cpu_pct']:>6.1f}% / {watched['daemon_cpu_pct']:.1f}% of a core")
    print(f"  daemon memory (RSS) alone / watched / after {alone['daemon_rss_mb']:>6.0f} / {watched['daemon_rss_mb']:.0f}"
          f" / {r['rss_after_mb']:.0f} MB")
    print(f"  updates per viewer per second               {watched['updates_per_viewer_per_s']:>6.1f}"
          f"   ({watched['viewers_connected']} viewers received)")
    return r


def run_agents(args, bare_fps: float | None) -> dict:
    print("\nagents: LOCKSTEP oa_dm1, seed 1234, one action per frame")
    if bare_fps is None:
        bare_fps = pipeline.median([pipeline.bare_game(1234, pipeline.Window(1000, 11000)) for _ in range(3)])
    floor = transport.pingpong()
    print(f"  bare game (4 bots)                          {bare_fps:>9,.0f} frames/s  ({1e6 / bare_fps:.0f} us/frame)")
    print(f"  transport floor: grpc.aio ping-pong         {floor['p50_us']:>9.0f} us p50  ({floor['p99_us']:.0f} us p99)")
    ideal = 1e6 / (1e6 / bare_fps + floor["p50_us"])
    with tempfile.TemporaryDirectory(prefix="gametap-bench-agents-") as state:
        daemon = start_daemon(Path(state), "--no-default-match")
        try:
            one = agents.run_async(daemon, agents=1, bots=3, steps=args.steps, floor_us=floor["p50_us"])
            one_sync = agents.run_sync(daemon, agents=1, bots=3, steps=args.steps, floor_us=floor["p50_us"])
            four = agents.run_async(daemon, agents=4, bots=4, steps=args.steps, floor_us=floor["p50_us"])
        finally:
            daemon.stop()
    print(f"  one agent + 3 bots, asyncio client          {one['steps_per_s']:>9,.0f} steps/s"
          f"   ({one['steps_per_s'] / ideal:.2f} x 1/(frame + ping-pong) = {ideal:,.0f}; goal >= 0.80)")
    print(f"  one agent + 3 bots, blocking client         {one_sync['steps_per_s']:>9,.0f} steps/s")
    print(f"  four agents + 4 bots, one stream            {four['steps_per_s']:>9,.0f} steps/s   (goal >= 1,000)")
    print(f"  game time per step (inside the game)        {one['game_p50_us']:>9.0f} us p50 (one agent), "
          f"{four['game_p50_us']:.0f} (four)")
    print(f"  time the service adds beyond the floor      {one['added_p50_us']:>9.0f} us p50, "
          f"{one['added_p99_us']:.0f} us p99   (goal p50 <= 200)")
    return {"bare_fps": bare_fps, "pingpong": floor, "ideal_steps_per_s": ideal,
            "one_agent": one, "one_agent_blocking": one_sync, "four_agents": four}


if __name__ == "__main__":
    sys.exit(main())
