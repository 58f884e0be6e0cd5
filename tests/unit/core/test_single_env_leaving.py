"""The single envs (gametap.client.envs.single) against a real daemon on loopback that hosts
fake matches: an agent that leaves its match mid-episode is terminated, not scored."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gametap.client import features
from gametap.client.envs import OpenArenaEnv, OpenArenaParallelEnv
from gametap.client.envs.single import MatchSpec

FORWARD = np.array([1, 0, 0, 0.1, 0, 0], np.float32)  # the "box" format


def spec(daemon) -> MatchSpec:
    return MatchSpec(server=daemon.grpc, map="plane", bots=(("Sarge", 5, 0),), action_format="box",
                     frames_per_step=2, max_steps=100, action_timeout_ms=10_000)


def kick_during(daemon, match_id: str, name: str, steps):
    """Kicks the agent's player while `steps()` steps (the console runs the kick between frames)."""
    with ThreadPoolExecutor(1) as pool, daemon.client() as client:
        kicked = next(p.client for p in client.get_state(match_id).players if p.name == name)
        kick = pool.submit(client.run_command, match_id, f"clientkick {kicked}")
        time.sleep(0.5)  # for the command to reach the game (it goes through the daemon, steps do not)
        out = steps()
        assert "was kicked" in kick.result(timeout=10)
    return out


def test_a_kicked_agent_is_terminated_with_zeros_and_no_reward(daemon):
    env = OpenArenaEnv(spec(daemon))
    try:
        obs, info = env.reset(seed=3)
        assert obs.any()

        def until_done():
            for n in range(1, 6):
                step = env.step(FORWARD)
                if step[2] or step[3]:
                    return n, step
            return n, step
        n, (obs, reward, terminated, truncated, info) = kick_during(daemon, info["match_id"], "agent_0", until_done)
    finally:
        env.close()
    assert terminated and not truncated and n <= 3
    assert reward == 0.0 and not obs.any() and obs.shape == (features.SIZE,)


def test_a_kicked_agent_leaves_the_parallel_env_and_the_others_play_on(daemon):
    env = OpenArenaParallelEnv(n_agents=2, spec=spec(daemon))
    try:
        obs, infos = env.reset(seed=4)
        match_id = infos["agent_0"]["match_id"]
        steps = kick_during(daemon, match_id, "agent_1",
                            lambda: [env.step({a: FORWARD for a in env.agents}) for _ in range(5)])
    finally:
        env.close()
    ended = [n for n, (_, _, terms, _, _) in enumerate(steps) if terms.get("agent_1")]
    assert len(ended) == 1 and ended[0] <= 2  # terminated once
    _, rewards, terms, _, _ = steps[ended[0]]
    assert rewards["agent_1"] == 0.0 and not terms["agent_0"]
    assert all(set(s[0]) == {"agent_0"} for s in steps[ended[0] + 1:])  # it left env.agents
    assert not any(s[2]["agent_0"] for s in steps)
