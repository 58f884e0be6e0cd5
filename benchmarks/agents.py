"""Agents in LOCKSTEP: steps per second and the time the service adds to a step.

one agent:      1 agent + 3 bots on oa_dm1 (four bot AIs, like the bare game's 4 bots),
                one Python client; goal >= 0.8 x 1 / (bare frame time + ping-pong time).
four agents:    4 agents + 4 bots, all four agents on one Play stream of one client;
                goal >= 1,000 steps/s.
service added:  per step, the client's round trip (action sent -> observation read)
                minus the game's own time for the frame (Observation.game_us, measured
                inside the game) minus the ping-pong floor's p50; goal p50 <= 0.2 ms.
"""
from __future__ import annotations

import asyncio
import statistics
import time

import grpc

from gametap.client import AgentStream, AsyncAgentStream
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

BOTS = ("Sarge", "Grism", "Kyonshi", "Major")


def _config(bots: int, agents: int, seed: int = 1234) -> mpb.MatchConfig:
    return mpb.MatchConfig(map="oa_dm1", clock=mpb.LOCKSTEP, seed=seed, hold_for_agents=agents,
                           bots=[mpb.BotConfig(name=n, skill=3) for n in (BOTS * 2)[:bots]])


def _actions(clients, step: int) -> list[apb.Action]:
    return [apb.Action(client=c, forward=1.0, strafe=0.5 if step % 40 < 20 else -0.5,
                       yaw=(step * 3 + 90 * i) % 360 - 180, attack=step % 10 == 0) for i, c in enumerate(clients)]


def _summary(latencies: list[float], game_us: list[int], elapsed: float, steps: int, floor_us: float) -> dict:
    added = sorted(lat * 1e6 - g - floor_us for lat, g in zip(latencies, game_us))
    return {
        "steps_per_s": steps / elapsed,
        "step_p50_us": statistics.median(lat * 1e6 for lat in latencies),
        "game_p50_us": statistics.median(game_us),
        "added_p50_us": statistics.median(added),
        "added_p99_us": added[int(len(added) * 0.99)],
    }


def run_sync(daemon, agents: int, bots: int, steps: int, floor_us: float, warmup: int = 200) -> dict:
    with daemon.client() as client:
        match = client.create_match(_config(bots, agents))
        slots = [apb.SlotSpec(name=f"bench-{i}") for i in range(agents)]
        try:
            with AgentStream(client, match.id, slots) as stream:
                stream.observe()
                for step in range(warmup):
                    stream.step(_actions(stream.clients, step))
                latencies, game_us = [], []
                started = time.perf_counter()
                for step in range(steps):
                    t = time.perf_counter()
                    obs = stream.step(_actions(stream.clients, step))
                    latencies.append(time.perf_counter() - t)
                    game_us.append(obs.game_us)
                elapsed = time.perf_counter() - started
        finally:
            client.stop_match(match.id)
    return _summary(latencies, game_us, elapsed, steps, floor_us)


async def _run_async(daemon, agents: int, bots: int, steps: int, floor_us: float, warmup: int) -> dict:
    with daemon.client() as client:
        match = client.create_match(_config(bots, agents))
        try:
            async with grpc.aio.insecure_channel(daemon.grpc) as channel:
                stream = await AsyncAgentStream.open(channel, match.id,
                                                     [apb.SlotSpec(name=f"bench-{i}") for i in range(agents)])
                await stream.observe()
                for step in range(warmup):
                    await stream.step(_actions(stream.clients, step))
                latencies, game_us = [], []
                started = time.perf_counter()
                for step in range(steps):
                    t = time.perf_counter()
                    obs = await stream.step(_actions(stream.clients, step))
                    latencies.append(time.perf_counter() - t)
                    game_us.append(obs.game_us)
                elapsed = time.perf_counter() - started
                await stream.close()
        finally:
            client.stop_match(match.id)
    return _summary(latencies, game_us, elapsed, steps, floor_us)


def run_async(daemon, agents: int, bots: int, steps: int, floor_us: float, warmup: int = 200) -> dict:
    return asyncio.run(_run_async(daemon, agents, bots, steps, floor_us, warmup))
