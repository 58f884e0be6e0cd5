"""The hot path's micro-benchmark: the real game's link bytes, captured once, fed through
gametap.q3._hotpath in this process, with its per-stage timers.

capture: a seeded LOCKSTEP match on oa_dm1 (4 bots) runs with the library's capture on,
         and every byte it sends is kept (frames 1..N).
replay:  the bytes are fed to a fresh World message by message (as a LOCKSTEP agent step
         delivers them: one frame at a time), then as the game batches them (32 frames);
         per frame: decode + deltas + keyframes + recording records; per step: one
         observation of a FULL slot, of a PVS slot, a feature tensor, an ActionBatch.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gametap.core.settings import Settings
from gametap.q3 import _hotpath
from gametap.v1 import agent_pb2 as apb
from gametap.worker.game_process import GameProcess
from gametap.worker.link import protocol as lp
from gametap.worker.link.gamelink import GameLink
from gametap.worker.match import LOCKSTEP_FLUSH_FRAMES, VIRTUAL_EPOCH_S


class _Tap:
    """A WorldCore that keeps every byte the game sent before handing it on."""

    def __init__(self, core):
        self.core, self.chunks = core, []

    def feed(self, data):
        self.chunks.append(bytes(data))
        return self.core.feed(data)

    def __getattr__(self, name):
        return getattr(self.core, name)


async def _capture(frames: int, home: Path) -> bytes:
    import pipeline  # the benchmark's seeded match config
    s = Settings()
    cfg = pipeline.config(1234, frames)
    game = s.make_game()
    argv = game.command_line(cfg, home, hostname="bench", udp_port=None, bind_ip="127.0.0.1", client_timeout_s=30)
    proc = GameProcess(argv, {"LD_PRELOAD": str(game.library), "PATH": "/usr/bin:/bin"}, home / "game.log", home)
    tap = _Tap(game.new_world(cfg, record=False))
    sock = await proc.start()
    welcome = {"clock": "lockstep", "capture": True, "seed": cfg.seed, "epoch_s": VIRTUAL_EPOCH_S,
               "max_frames": frames, "flush_frames": LOCKSTEP_FLUSH_FRAMES}
    link = GameLink(welcome, lambda m: None, tap, lambda batch: None).attach(sock)
    await proc.wait()
    await link.closed
    return b"".join(tap.chunks)


def capture(frames: int = 5000) -> list[bytes]:
    """The FRAME messages (whole, with headers) of a real match, in order."""
    with tempfile.TemporaryDirectory(prefix="gametap-bench-hotpath-") as tmp:
        stream = asyncio.run(_capture(frames, Path(tmp)))
    messages, pos = [], 0
    while pos < len(stream):
        size, msg_type, _ = lp.HEADER.unpack_from(stream, pos)
        end = pos + lp.HEADER.size + size
        if msg_type == lp.MsgType.FRAME:
            messages.append(stream[pos:end])
        pos = end
    return messages


def _stages(before: dict, after: dict, frames: int) -> dict[str, float]:
    return {stage: 1e6 * (after[stage][1] - before[stage][1]) / frames for stage in after
            if after[stage][0] > before[stage][0]}


def replay(messages: list[bytes], rounds: int = 3) -> dict:
    """Microseconds per frame (and per stage), the median of `rounds`."""
    per_frame, per_batch, observe, features, pvs, actions = [], [], [], [], [], []
    stages = {}
    batch = [b"".join(messages[i:i + LOCKSTEP_FLUSH_FRAMES]) for i in range(0, len(messages), LOCKSTEP_FLUSH_FRAMES)]
    action = apb.ActionBatch(frame=1, actions=[apb.Action(client=0, forward=1.0, yaw=30.0, attack=True)])
    action_bytes = action.SerializeToString()
    for _ in range(rounds):
        w = _hotpath.World(100, True)
        w.accept_frames()
        before = _hotpath.timings()
        t = time.perf_counter()
        for m in messages:
            w.feed(m)
        per_frame.append(1e6 * (time.perf_counter() - t) / len(messages))
        stages = _stages(before, _hotpath.timings(), len(messages))
        w = _hotpath.World(100, True)
        w.accept_frames()
        t = time.perf_counter()
        for b in batch:
            w.feed(b)
        per_batch.append(1e6 * (time.perf_counter() - t) / len(messages))
        client = w.players()[0][0]
        for kind, out in (((False, True, False), observe), ((True, True, False), pvs), ((False, False, True), features)):
            pvs_slot, structured, feats = kind
            o = w.observer(1, structured, feats)
            o.set_slots([(client, pvs_slot)])
            o.observe(False, 0, [])
            t = time.perf_counter()
            for _ in range(2000):
                o.observe(False, 0, [])
            out.append(1e6 * (time.perf_counter() - t) / 2000)
        o = w.observer(1, True, False)
        o.set_slots([(0, False)])
        t = time.perf_counter()
        for _ in range(20000):
            o.actions(action_bytes)
        actions.append(1e6 * (time.perf_counter() - t) / 20000)
    med = statistics.median
    return {"frames": len(messages), "us_per_frame_one_by_one": med(per_frame), "us_per_frame_batched": med(per_batch),
            "stages_us_per_frame": stages, "observe_full_us": med(observe), "observe_pvs_us": med(pvs),
            "features_us": med(features), "actions_us": med(actions)}


def run(frames: int = 5000, report=print) -> dict:
    messages = capture(frames)
    r = replay(messages)
    report(f"  frames replayed (oa_dm1, 4 bots, captured)   {r['frames']:>9,d}")
    report(f"  per frame, fed one at a time                {r['us_per_frame_one_by_one']:>9.2f} us")
    report(f"  per frame, fed in batches of {LOCKSTEP_FLUSH_FRAMES}             {r['us_per_frame_batched']:>9.2f} us")
    for stage, us in r["stages_us_per_frame"].items():
        report(f"    stage {stage:<12}                        {us:>9.2f} us")
    report(f"  one observation: FULL / PVS / features      {r['observe_full_us']:>6.2f} / {r['observe_pvs_us']:.2f} / "
           f"{r['features_us']:.2f} us")
    report(f"  one ActionBatch -> CONTROL records          {r['actions_us']:>9.2f} us")
    return r


if __name__ == "__main__":
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run()
