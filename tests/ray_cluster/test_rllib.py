"""RLlib's PPO (current API stack) training on gametap matches, on a real 2-node local cluster."""
from __future__ import annotations

import numpy as np
import pytest

from gametap.client import Client
from gametap.ray import Fleet, local_daemon_address
from gametap.ray.rllib import GametapMultiAgentEnv
from gametap.v1 import match_pb2 as mpb

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")
pytestmark = [pytest.mark.ray, pytest.mark.game]

ENV_CONFIG = {"agents": 2, "max_steps": 40, "frames_per_step": 4}


@pytest.fixture
def fleet(cluster):
    f = Fleet()
    try:
        yield f
    finally:
        f.shutdown()


def rollout(env: GametapMultiAgentEnv, seed: int, steps: int = 25) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    trace = [np.concatenate([obs[a] for a in env.possible_agents])]
    rng = np.random.default_rng(0)  # the same actions in every rollout
    for _ in range(steps):
        actions = {a: rng.uniform(-1, 1, env.action_spaces[a].shape).astype(np.float32) for a in env.agents}
        obs, rewards, terminated, truncated, _ = env.step(actions)
        assert set(rewards) == set(env.possible_agents) and "__all__" in terminated and "__all__" in truncated
        trace.append(np.concatenate([obs[a] for a in env.possible_agents]))
    return np.stack(trace)


def test_the_env_passes_rllib_s_checks_and_replays_a_seed(fleet):
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = GametapMultiAgentEnv(ENV_CONFIG)
    try:
        assert env.placement()["server"] == local_daemon_address()
        check_multiagent_environments(env)
        a, b, c = rollout(env, 11), rollout(env, 11), rollout(env, 12)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        obs, _ = env.reset(seed=1)
        while env.agents:  # to the episode's end: every agent leaves, "__all__" says so
            _, _, terminated, truncated, _ = env.step({a: env.action_spaces[a].sample() for a in env.agents})
        assert truncated["__all__"] and not terminated["__all__"]
    finally:
        env.close()


def test_an_env_with_no_fleet_on_its_node_says_what_to_do(cluster):
    with pytest.raises(LookupError, match="start a gametap.ray.Fleet first"):
        GametapMultiAgentEnv(ENV_CONFIG)
    with pytest.raises(ValueError, match="unknown env_config keys"):
        GametapMultiAgentEnv({"agents": 2, "server": "127.0.0.1:1", "colour": "red"})


def test_ppo_trains_with_env_runners_whose_matches_run_on_their_own_nodes(fleet):
    from ray.rllib.algorithms.ppo import PPOConfig

    config = (PPOConfig()
              .environment(GametapMultiAgentEnv, env_config=ENV_CONFIG)
              .env_runners(num_env_runners=2, num_cpus_per_env_runner=1, rollout_fragment_length=40)
              .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, *a, **k: "shared")
              .training(train_batch_size=160, minibatch_size=80, num_epochs=1)
              .debugging(seed=3))
    algo = config.build_algo()
    try:
        sampled = [algo.train()["env_runners"]["num_env_steps_sampled_lifetime"] for _ in range(2)]
        assert sampled[0] >= 160 and sampled[1] >= 2 * 160
        placements = algo.env_runner_group.foreach_env_runner(
            lambda runner: runner.env.envs[0].unwrapped.placement(), local_env_runner=False)
    finally:
        algo.stop()
    daemons = {n["node_id"]: n["grpc"] for n in fleet.sync()}
    assert len(placements) == 2
    for p in placements:  # each runner talks to its own node's daemon, which ran its episodes
        assert p["server"] == daemons[p["node_id"]]
        with Client(p["server"]) as daemon:
            lockstep = [m for m in daemon.list_matches() if m.config.clock == mpb.LOCKSTEP]
        assert lockstep, f"no episode ran on node {p['node_id'][:12]}"
