"""The vector envs (gametap.client.envs, over PlayMany) against a real daemon on loopback that
hosts fake matches: agents that leave their match, and matches that end."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gametap.client import features
from gametap.client.envs import MultiAgentVectorEnv, OpenArenaVectorEnv

FORWARD = np.array([1, 0, 0, 0.1, 0, 0], np.float32)  # the "box" format: run forward, turning a little
SPEC = dict(map="plane", bots=(("Sarge", 5, 0),), action_format="box", action_timeout_ms=10_000)


def forward(*shape) -> np.ndarray:
    return np.tile(FORWARD, (*shape, 1))


def test_an_agent_kicked_from_its_match_is_terminated_once_then_masked_out(daemon):
    env = MultiAgentVectorEnv(num_matches=2, agents_per_match=2, server=daemon.grpc, frames_per_step=2,
                              max_steps=100, **SPEC)
    try:
        obs, infos = env.reset(seed=1)
        first_frames = infos["frame"].copy()
        match_id = infos["match_id"][0]
        with ThreadPoolExecutor(1) as pool, daemon.client() as client:
            kicked = next(p.client for p in client.get_state(match_id).players if p.name == "agent_1")
            # the console runs it between frames, once a step lets the game go on: it waits at the gate
            kick = pool.submit(client.run_command, match_id, f"clientkick {kicked}")
            time.sleep(0.5)  # for the command to reach the game (it goes through the daemon, steps do not)
            steps = [env.step(forward(2, 2)) for _ in range(5)]
            assert "was kicked" in kick.result(timeout=10)
    finally:
        env.close()
    terminated = np.array([s[2] for s in steps])  # (steps, matches, agents)
    active = np.array([s[4]["active"] for s in steps])
    assert obs.shape == (2, 2, features.SIZE) and infos["active"].all()
    (left_at,) = np.flatnonzero(terminated[:, 0, 1])  # once
    assert left_at <= 2 and active[:left_at, 0, 1].all() and not active[left_at:, 0, 1].any()
    assert not np.array([s[0][0, 1] for s in steps[left_at:]]).any()  # its observation: zeros
    assert active[:, 0, 0].all() and active[:, 1].all() and not terminated[:, 1].any()
    assert (steps[-1][4]["frame"] == first_frames + 10).all()  # no step waited for the one that left


def test_a_match_that_ends_ends_its_episode_and_the_next_step_starts_another(daemon):
    env = OpenArenaVectorEnv(num_envs=2, server=daemon.grpc, frames_per_step=10, max_steps=500, frag_limit=2, **SPEC)
    restarts = []  # (env, a new match, its episode step, reward, terminated) the step after an episode ended
    try:
        _, infos = env.reset(seed=3)
        ended, ids = np.zeros(2, bool), infos["match_id"].copy()
        for _ in range(300):
            _, rewards, terminated, truncated, infos = env.step(forward(2))
            assert not truncated.any()
            restarts += [(i, infos["match_id"][i] != ids[i], infos["episode_step"][i], rewards[i], terminated[i])
                         for i in np.flatnonzero(ended)]
            ended, ids = terminated.copy(), infos["match_id"].copy()
            if {r[0] for r in restarts} == {0, 1}:
                break
    finally:
        env.close()
    assert {r[0] for r in restarts} == {0, 1}
    assert all(new and step == 0 and reward == 0 and not done for _, new, step, reward, done in restarts)
