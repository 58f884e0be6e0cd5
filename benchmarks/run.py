"""`make bench`: gametap's performance figures, as ratios against the bare game in the same run.

Prints a table and writes benchmarks/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=5, help="interleaved bare/full rounds (median reported)")
    p.add_argument("--frames", type=int, default=20000, help="measured frames per run")
    args = p.parse_args()

    print(f"gametap benchmarks on {platform.node()} ({platform.processor() or platform.machine()}), "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"pipeline: LOCKSTEP oa_dm1, 4 bots (skill 3), seed 1234, frames 1000..{1000 + args.frames}, "
          f"{args.rounds} interleaved rounds")
    r = pipeline.run(rounds=args.rounds, window=pipeline.Window(1000, 1000 + args.frames))
    print()
    print(f"  bare game (library loaded, capture off)     {r['bare_fps']:>9,.0f} frames/s")
    print("  full pipeline (capture, deltas, recording,")
    print(f"                 one batched Watch stream)    {r['full_fps']:>9,.0f} frames/s")
    print(f"  ratio full / bare (medians)                 {r['ratio']:>9.3f}   (goal >= 0.90)")
    print(f"  ratio full / bare (median of paired rounds) {r['paired_ratio']:>9.3f}")
    print(f"  delta size (avg)                            {r['delta_bytes']:>9,.0f} bytes")
    print(f"  keyframe size (avg)                         {r['keyframe_bytes']:>9,.0f} bytes"
          f"   (delta/keyframe {r['delta_bytes'] / r['keyframe_bytes']:.2f}; budget <= 0.10)")
    print(f"  watcher resyncs                             {r['watch_resyncs']:>9d}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps({"pipeline": r, "time": time.time()}, indent=2))
    print(f"\nwritten to {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
