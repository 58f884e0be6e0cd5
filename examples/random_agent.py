"""A random agent: one Gymnasium episode against a bot, with random actions.

    .venv/bin/python examples/random_agent.py --server 127.0.0.1:50051 --steps 500
"""
from __future__ import annotations

import argparse

from gametap.client.envs import MatchSpec, OpenArenaEnv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--steps", type=int, default=500, help="steps of 4 frames (0.2 s of game time) each")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    env = OpenArenaEnv(MatchSpec(server=args.server, max_steps=args.steps))
    try:
        obs, info = env.reset(seed=args.seed)
        env.action_space.seed(args.seed)
        total, steps, deaths, was_alive = 0.0, 0, 0, True
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += reward
            steps += 1
            deaths += was_alive and not info["alive"]
            was_alive = info["alive"]
            done = terminated or truncated
        print(f"random agent: {steps} steps, reward {total:+.0f}, final score {info['score']}, died {deaths} times, "
              f"frame {info['frame']}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
