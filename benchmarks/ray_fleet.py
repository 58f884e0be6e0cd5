"""gametap on Ray: what Ray costs beside the vector env alone, and how soon a fleet match plays.

without Ray: OpenArenaVectorEnv at M = 4 (1 agent + 3 bots each, one frame per step) in this
             process, on a plain daemon.
one node:    a local Ray cluster of one node with every core; a Fleet; one Ray actor that steps
             the same M = 4 vector env on its node's daemon (loopback).
two nodes:   the same machine as two Ray nodes with half the cores each; one actor per node,
             each stepping M = 2 on its own node's daemon.
Each counts agent steps over the same wall-clock window after a warm-up (the actors' windows
start at one agreed time).
start:       Fleet.create_match -> the agent's first observation (LOCKSTEP, held for the agent),
             median of a few, on the one-node cluster.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import vector
from gametap.client import AgentStream, Client
from gametap.client.envs import OpenArenaVectorEnv
from gametap.ray import Fleet, local_daemon_address
from gametap.ray.local_cluster import start_local_cluster
from gametap.testing import start_daemon
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

MATCHES = 4
WARMUP_S = 3.0


@ray.remote(num_cpus=1)
class Stepper:
    """A vector env of m matches on this node's fleet daemon."""

    def __init__(self, m: int):
        self.m = m
        self.env = OpenArenaVectorEnv(m, vector.bench_spec(local_daemon_address()))
        self.actions = vector.forward_actions(m)
        self.env.reset(seed=1234)

    def run(self, start_at: float, seconds: float) -> int:
        """Steps until start_at (the warm-up), then counts agent steps for `seconds`."""
        while time.time() < start_at:
            self.env.step(self.actions)
        steps, end = 0, start_at + seconds
        while time.time() < end:
            self.env.step(self.actions)
            steps += 1
        return steps * self.m

    def close(self) -> None:
        self.env.close()


def _on_ray(layout: list[int], seconds: float) -> float:
    """Aggregate agent steps/s of one Stepper per node, node i stepping layout[i] matches."""
    cpus = os.cpu_count() // len(layout) or 1
    cluster = start_local_cluster(len(layout), cpus)
    fleet = Fleet()
    try:
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        steppers = [Stepper.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(m)
                    for node, m in zip(nodes, layout)]
        start_at = time.time() + WARMUP_S + 5.0  # the actors start their envs first
        steps = ray.get([s.run.remote(start_at, seconds) for s in steppers])
        ray.get([s.close.remote() for s in steppers])
        return sum(steps) / seconds
    finally:
        fleet.shutdown()
        ray.shutdown()
        cluster.shutdown()


def _start_latency(rounds: int) -> list[float]:
    """Seconds from Fleet.create_match to the agent's first observation, on a one-node cluster."""
    cluster = start_local_cluster(1, os.cpu_count())
    fleet = Fleet()
    config = mpb.MatchConfig(map="oa_dm1", clock=mpb.LOCKSTEP, seed=1, hold_for_agents=1,
                             bots=[mpb.BotConfig(name=n, skill=3) for n, _, _ in vector.THREE_BOTS])
    out = []
    try:
        for _ in range(rounds):
            t = time.perf_counter()
            m = fleet.create_match(config)
            with Client(m.grpc) as client, AgentStream(client, m.id, [apb.SlotSpec(name="bench")]) as stream:
                stream.observe()
                out.append(time.perf_counter() - t)
            fleet.stop_match(m.id)
    finally:
        fleet.shutdown()
        ray.shutdown()
        cluster.shutdown()
    return out


def _in_fresh_process(phase: str, *args) -> object:
    """Runs one phase in a new interpreter: each Ray cluster starts in a process that has run no
    gRPC yet (starting one beside the no-Ray run's client timed out registering its nodes)."""
    out = subprocess.run([sys.executable, __file__, phase, *map(json.dumps, args)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"the {phase} phase failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(seconds: float = 10.0, rounds: int = 5) -> dict:
    with tempfile.TemporaryDirectory(prefix="gametap-bench-ray-") as state:
        daemon = start_daemon(Path(state), "--no-default-match")
        try:
            alone = vector.run_vector(daemon, MATCHES, seconds, WARMUP_S)["agent_steps_per_s"]
        finally:
            daemon.stop()
    one = _in_fresh_process("on_ray", [MATCHES], seconds)
    two = _in_fresh_process("on_ray", [MATCHES // 2, MATCHES // 2], seconds)
    starts = _in_fresh_process("start_latency", rounds)
    print(f"  vector env, M = {MATCHES}, no Ray                  {alone:>9,.0f} agent steps/s")
    print(f"  one Ray node, one actor stepping M = {MATCHES}       {one:>9,.0f}   ({one / alone:.2f}x)")
    print(f"  two Ray nodes, an actor each stepping M = {MATCHES // 2}  {two:>9,.0f}   ({two / alone:.2f}x)")
    print(f"  Fleet.create_match -> first observation: median {statistics.median(starts) * 1000:,.0f} ms, "
          f"worst {max(starts) * 1000:,.0f} ms over {rounds}")
    return {"alone": alone, "one_node": one, "two_nodes": two, "start_s": starts}


if __name__ == "__main__":  # one phase, for _in_fresh_process: its result as JSON on the last line
    phases = {"on_ray": _on_ray, "start_latency": _start_latency}
    print(json.dumps(phases[sys.argv[1]](*map(json.loads, sys.argv[2:]))))
