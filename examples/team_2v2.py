"""Two agents against two bots in a team deathmatch (PettingZoo ParallelEnv).

Both agents use the scripted aim-and-shoot policy of scripted_agent.py; they
travel on one Play stream, so every step is one round trip for the pair.

    .venv/bin/python examples/team_2v2.py --server 127.0.0.1:50051 --steps 1500
"""
from __future__ import annotations

import argparse

import numpy as np
from scripted_agent import decide  # examples/ is on sys.path when this script runs

from gametap.client.envs import MatchSpec, OpenArenaParallelEnv
from gametap.q3.v1 import world_pb2 as wpb


def to_env_action(action, me: wpb.Player, max_turn: float) -> dict:
    """A scripted Action (absolute angles) as the env's relative action."""
    turn = ((action.yaw - me.view_angles.y + 180) % 360 - 180) / max_turn
    tilt = (action.pitch - me.view_angles.x) / max_turn
    return {"move": np.array([action.forward, action.strafe, action.jump], np.float32),
            "look": np.clip(np.array([turn, tilt], np.float32), -1, 1),
            "attack": int(action.attack), "weapon": int(action.weapon)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--steps", type=int, default=1500, help="steps of 2 frames each")
    args = p.parse_args()
    spec = MatchSpec(server=args.server, game_type=wpb.GAME_TYPE_TEAM, max_steps=args.steps, frames_per_step=2,
                     bots=(("Grism", 2, wpb.TEAM_BLUE), ("Major", 2, wpb.TEAM_BLUE)),
                     agent_teams=(wpb.TEAM_RED, wpb.TEAM_RED), max_turn_degrees=60.0)
    env = OpenArenaParallelEnv(2, spec)
    try:
        env.reset(seed=3)
        returns = dict.fromkeys(env.agents, 0.0)
        step = 0
        while env.agents:
            actions = {}
            for agent in env.agents:
                client, view = env.client(agent), env.world(agent)
                actions[agent] = to_env_action(decide(client, view, step), view.players[client], spec.max_turn_degrees)
            match = env.world(env.agents[0]).match
            _, rewards, _, _, _ = env.step(actions)
            for agent, r in rewards.items():
                returns[agent] += r
            step += 1
        print(f"after {step} steps: agents' frags {returns}; team scores: red {match.red_score}, blue {match.blue_score}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
