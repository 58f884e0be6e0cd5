"""Vector envs against the peer (ViZDoom), side by side in the same run.

gametap: OpenArenaVectorEnv at M = 2, 4, 8 matches (1 agent + 3 bots each, skill 3,
oa_dm1, one frame per step, flat Box actions), and MultiAgentVectorEnv at 2 matches x 4
agents (+ 4 bots each), every match's step in one message per worker; and the vector env
at M = 8 stepped asynchronously in batches of 4 (send/recv, EnvPool-style); and both with a
learner that waits 125 us per observation (as a GPU would): what asynchronous stepping is for. Each counts agent
steps over the same wall-clock window after a warm-up; CPU per agent step is split into
the games' and everything outside them (daemon + workers + this client process).
Resets: the latency of autoresets onto warm matches (episode end seen -> next first obs).

ViZDoom (benchmarks/vizdoom_peer.py): (a) one game, (b) 2 and 4 games at once, (c) 4
agents + 4 bots as 4 processes over its own netcode.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from gametap.client.envs import MatchSpec, MultiAgentVectorEnv, OpenArenaVectorEnv
from procs import cpu_s

LEARNER_US = 125  # per observation: a learner that waits (a GPU's forward pass), leaving the CPU to the games
THREE_BOTS = (("Grism", 3, 0), ("Sarge", 3, 0), ("Major", 3, 0))
FOUR_BOTS = THREE_BOTS + (("Kyonshi", 3, 0),)
FORWARD = np.array([1.0, 0.0, 0.0, 0.1, 0.0, 0.0], np.float32)  # every agent's flat action: run, turning slowly


def bench_spec(server: str, bots=THREE_BOTS, max_steps: int = 10**6) -> MatchSpec:
    """The matches every figure steps: oa_dm1, one frame per step, flat Box actions."""
    return MatchSpec(server=server, bots=bots, frames_per_step=1, max_steps=max_steps, action_format="box")


def forward_actions(*shape: int) -> np.ndarray:
    """FORWARD for each env (and agent) of that shape."""
    return np.tile(FORWARD, (*shape, 1))


def _processes(env, daemon) -> tuple[list[int], list[int]]:
    """(daemon + worker pids, the running matches' game pids)."""
    client = env._vec.client
    matches = [client.get_match(m) for m in env._vec.match_ids]
    workers = sorted({m.placement.worker_pid for m in matches if m.placement.worker_pid})
    return [daemon.proc.pid, *workers], [m.pid for m in matches if m.pid]


def _window(env, daemon, seconds: float, run_for) -> dict:
    """Agent steps/s and CPU per agent step (client, daemon + workers, games) over `seconds` of
    run_for(seconds) -> the agent steps it made."""
    ours, games = _processes(env, daemon)
    t0, c0 = time.perf_counter(), time.process_time()
    ours0, games0 = sum(map(cpu_s, ours)), sum(map(cpu_s, games))
    agent_steps = run_for(seconds)
    wall = time.perf_counter() - t0
    client, server = time.process_time() - c0, sum(map(cpu_s, ours)) - ours0
    game = sum(map(cpu_s, games)) - games0
    return {"agent_steps_per_s": agent_steps / wall, "agent_steps": agent_steps,
            "outside_us": (client + server) / agent_steps * 1e6, "client_us": client / agent_steps * 1e6,
            "server_us": server / agent_steps * 1e6, "game_us": game / agent_steps * 1e6}


def _measure(env, daemon, seconds: float, warmup_s: float, actions: np.ndarray) -> dict:
    """Whole synchronous steps of every env."""
    agents_per_step = actions.shape[0] * (actions.shape[1] if actions.ndim == 3 else 1)

    def run_for(s: float) -> int:
        steps, end = 0, time.perf_counter() + s
        while time.perf_counter() < end:
            env.step(actions)
            steps += 1
        return steps * agents_per_step

    env.reset(seed=1234)
    run_for(warmup_s)  # the warm matches of the next episodes boot meanwhile
    return _window(env, daemon, seconds, run_for)


def _measure_async(env, daemon, seconds: float, warmup_s: float, batch: int, learner_us_per_env: float = 0) -> dict:
    """EnvPool-style: recv() a batch, send() its actions; the other envs' games run meanwhile.
    learner_us_per_env: a learner that waits this long per observation (as for a GPU), off the CPU."""
    actions = forward_actions(batch)
    think = learner_us_per_env * batch / 1e6

    def run_for(s: float) -> int:
        n, end = 0, time.perf_counter() + s
        while time.perf_counter() < end:
            obs, _, _, _, info = env.recv()
            if think:
                time.sleep(think)
            env.send(actions, info["env_id"])
            n += len(obs)
        return n

    env.async_reset(seed=1234)
    run_for(warmup_s)
    return _window(env, daemon, seconds, run_for)


def run_vector(daemon, m: int, seconds: float = 10.0, warmup_s: float = 2.0) -> dict:
    """The vector env at M = m, 1 agent + 3 bots each, stepped synchronously."""
    with OpenArenaVectorEnv(m, bench_spec(daemon.grpc)) as env:
        return _measure(env, daemon, seconds, warmup_s, forward_actions(m))


def run_gametap(daemon, seconds: float = 10.0, warmup_s: float = 2.0, sizes=(2, 4, 8)) -> dict:
    out = {f"vector_{m}": run_vector(daemon, m, seconds, warmup_s) for m in sizes}
    spec = bench_spec(daemon.grpc)
    with OpenArenaVectorEnv(8, spec, batch_size=4) as env:
        out["vector_8_async"] = _measure_async(env, daemon, seconds, warmup_s, 4)
    for batch, name in ((8, "learner_sync"), (4, "learner_async")):  # a learner that takes 125 us per env
        with OpenArenaVectorEnv(8, spec, batch_size=batch) as env:
            out[name] = _measure_async(env, daemon, seconds, warmup_s, batch, learner_us_per_env=LEARNER_US)
    with MultiAgentVectorEnv(2, 4, bench_spec(daemon.grpc, FOUR_BOTS)) as env:
        out["multi_2x4"] = _measure(env, daemon, seconds, warmup_s, forward_actions(2, 4))
    out["reset"] = run_resets(daemon)
    return out


def run_resets(daemon, episodes: int = 12, max_steps: int = 1000) -> dict:
    """Autoresets of one env onto its warm matches: median and worst latency."""
    with OpenArenaVectorEnv(1, bench_spec(daemon.grpc, max_steps=max_steps)) as env:
        env.reset(seed=99)
        actions = np.zeros((1, 6), np.float32)
        while len(env.reset_seconds) < episodes:
            env.step(actions)
        ms = [s * 1000 for s in env.reset_seconds]
    return {"median_ms": statistics.median(ms), "max_ms": max(ms), "episodes": len(ms),
            "episode_steps": max_steps}
