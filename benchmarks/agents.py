"""Agents in LOCKSTEP: steps per second and CPU per step in every process.

one agent:   1 agent + 3 bots on oa_dm1 (four bot AIs, like the bare game's 4 bots), one
             asyncio Python client on one Play stream; goal >= 0.8 x 1 / (game time per step
             + ping-pong floor).
four agents: 4 agents + 4 bots, all four on one stream; goal >= 2,000 steps/s.
CPU:         per step, of the daemon, the worker that runs the match, the game and this
             (client) process, from /proc; the worker's beyond the echo server's CPU per
             round trip is the cost the service adds (goal <= 60 us; with four slots on a
             stream, <= 60 us per agent step in all).
Both with the structured world (WORLD) and with the daemon's feature tensor (FEATURES).
"""
from __future__ import annotations

import asyncio
import statistics
import time

from gametap.client import AsyncAgentStream, AsyncClient
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from procs import CpuMeter

BOTS = ("Sarge", "Grism", "Kyonshi", "Major")


def _config(bots: int, agents: int, seed: int = 1234) -> mpb.MatchConfig:
    return mpb.MatchConfig(map="oa_dm1", clock=mpb.LOCKSTEP, seed=seed, hold_for_agents=agents,
                           bots=[mpb.BotConfig(name=n, skill=3) for n in (BOTS * 2)[:bots]])


def _actions(clients, step: int) -> list[apb.Action]:
    return [apb.Action(client=c, forward=1.0, strafe=0.5 if step % 40 < 20 else -0.5,
                       yaw=(step * 3 + 90 * i) % 360 - 180, attack=step % 10 == 0) for i, c in enumerate(clients)]


async def _run(daemon, agents: int, bots: int, steps: int, observation: int, warmup: int) -> dict:
    async with AsyncClient(daemon.grpc) as client:
        match = await client.create_match(_config(bots, agents))
        try:
            stream = await AsyncAgentStream.open(client, match.id, [apb.SlotSpec(name=f"bench-{i}") for i in range(agents)],
                                                 observation=observation)
            await stream.observe()
            for step in range(warmup):
                await stream.step(_actions(stream.clients, step))
            placed = await client.get_match(match.id)
            meter = CpuMeter(daemon=daemon.proc.pid, worker=placed.placement.worker_pid, game=placed.pid)
            latencies, game_us = [], []
            meter.start()
            started = time.perf_counter()
            for step in range(steps):
                t = time.perf_counter()
                obs = await stream.step(_actions(stream.clients, step))
                latencies.append(time.perf_counter() - t)
                game_us.append(obs.game_us)
            elapsed = time.perf_counter() - started
            used = meter.stop()
            await stream.close()
        finally:
            await client.stop_match(match.id)
    return {
        "agents": agents, "observation": apb.ObservationKind.Name(observation),
        "steps_per_s": steps / elapsed,
        "step_p50_us": statistics.median(lat * 1e6 for lat in latencies),
        "game_p50_us": statistics.median(game_us),
        "cpu_us_per_step": {name: 1e6 * seconds / steps for name, seconds in used.items()},
    }


def run(daemon, agents: int, bots: int, steps: int, observation: int = apb.WORLD, warmup: int = 300) -> dict:
    return asyncio.run(_run(daemon, agents, bots, steps, observation, warmup))
