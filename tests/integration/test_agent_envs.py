"""The agent library's environments pass PettingZoo's and Gymnasium's own checks against
the real daemon, and agent matches repeat exactly for the same seed and actions."""
from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test, parallel_seed_test

from gametap.client import AgentStream, features
from gametap.client.envs import MatchSpec, OpenArenaEnv, OpenArenaParallelEnv
from gametap.recordings.recording import read_recording
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


@pytest.fixture
def spec(daemon):
    return MatchSpec(server=daemon.grpc, max_steps=120)


def test_pettingzoo_parallel_api(spec):
    env = OpenArenaParallelEnv(3, spec)
    try:
        parallel_api_test(env, num_cycles=150)
    finally:
        env.close()


def test_pettingzoo_parallel_seed(spec):
    parallel_seed_test(lambda: OpenArenaParallelEnv(2, spec), num_cycles=60)


def test_gymnasium_check_env(spec):
    env = OpenArenaEnv(spec)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_episodes_repeat_for_a_seed_and_rewards_follow_the_score(spec):
    def rollout(seed):
        env = OpenArenaParallelEnv(2, spec)
        try:
            obs, infos = env.reset(seed=seed)
            start = {a: infos[a]["score"] for a in env.agents}
            match_ids = {infos[a]["match_id"] for a in env.agents}
            assert len(match_ids) == 1 and infos[env.agents[0]]["viewer_url"].endswith(f"#/match/{match_ids.pop()}")
            for agent in env.agents:
                env.action_space(agent).seed(seed)
            trace = [np.concatenate([obs[a] for a in env.possible_agents])]
            returns = dict.fromkeys(env.agents, 0.0)
            while env.agents:
                actions = {a: env.action_space(a).sample() for a in env.agents}
                obs, rew, term, trunc, infos = env.step(actions)
                for a, r in rew.items():
                    returns[a] += r
                trace.append(np.concatenate([obs[a] for a in env.possible_agents]))
                assert all(o.shape == (features.SIZE,) and o.dtype == np.float32 for o in obs.values())
            for a, total in returns.items():  # the rewards add up to the change of the game's score
                assert total == infos[a]["score"] - start[a]
            return np.stack(trace)
        finally:
            env.close()

    a, b, c = rollout(7), rollout(7), rollout(8)
    assert a.shape[0] == spec.max_steps + 1
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def run_with_actions(client, daemon, seed: int, steps: int = 400) -> list[str]:
    """A LOCKSTEP match with one agent playing a fixed action sequence; hashes of every update."""
    match = client.create_match(lockstep(bots=("Grism", "Major"), skill=2, seed=seed, hold_for_agents=1,
                                         max_frames=20_000))
    rng = random.Random(1)  # the same actions in every run
    with AgentStream(client, match.id, [apb.SlotSpec(name="replayer")]) as agents:
        me = agents.clients[0]
        agents.observe()
        for _ in range(steps):
            agents.step([apb.Action(client=me, forward=rng.uniform(-1, 1), strafe=rng.uniform(-1, 1),
                                    yaw=rng.uniform(-180, 180), pitch=rng.uniform(-60, 60),
                                    attack=rng.random() < 0.3, weapon=rng.randrange(0, 8))])
        last = agents.frame
        client.stop_match(match.id)
    wait_ended(client, match.id)
    recording = read_recording(daemon.match_dir(match.id) / "updates.gtrec")
    # Up to the last frame the agent observed (the stop lands at a different frame in each run).
    hashes = []
    for u in recording.updates:
        update = opb.WorldUpdate.FromString(u)
        if getattr(update, update.WhichOneof("update")).frame > last:
            break
        hashes.append(hashlib.sha256(u).hexdigest())
    return hashes


def test_same_seed_and_actions_give_identical_streams(client, daemon):
    first = run_with_actions(client, daemon, seed=321)
    second = run_with_actions(client, daemon, seed=321)
    other = run_with_actions(client, daemon, seed=322)
    assert len(first) == len(second) > 400
    mismatch = next((i for i, (x, y) in enumerate(zip(first, second)) if x != y), None)
    assert mismatch is None, f"the streams differ from update {mismatch}"
    assert other != first
    assert client.get_match(client.list_matches()[-1].id).status == mpb.STOPPED
