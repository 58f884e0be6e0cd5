"""RLlib PPO (its current API stack) on gametap matches, across a Ray cluster.

    .venv/bin/python examples/rllib_ppo.py --iterations 20            # a local Ray on this machine
    .venv/bin/python examples/rllib_ppo.py --address auto --env-runners 8 --iterations 200

A gametap.ray.Fleet puts a daemon on every node. Each EnvRunner plays its episodes on its own
node's daemon, so the per-step traffic stays on that node; only the sampled episodes travel to
the learner. Two agents share one policy (self-play) against a bot. Give each EnvRunner a CPU
for itself and one for its game.
"""
from __future__ import annotations

import argparse
import time

import ray
from ray.rllib.algorithms.ppo import PPOConfig

from gametap.ray import Fleet
from gametap.ray.rllib import GametapMultiAgentEnv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", default=None, help="a Ray cluster to join (default: start one on this machine)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--env-runners", type=int, default=1)
    p.add_argument("--agents", type=int, default=2)
    p.add_argument("--episode-steps", type=int, default=250, help="steps of 4 frames (0.2 s of game time) each")
    p.add_argument("--batch", type=int, default=1000, help="agent steps per training iteration")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpoint", default=None, help="a directory to save the trained algorithm in")
    args = p.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    fleet = Fleet()
    env_config = {"agents": args.agents, "max_steps": args.episode_steps, "bots": [("Sarge", 1)]}
    config = (PPOConfig()
              .environment(GametapMultiAgentEnv, env_config=env_config)
              .env_runners(num_env_runners=args.env_runners, num_cpus_per_env_runner=2,
                           rollout_fragment_length="auto")
              .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, *a, **k: "shared")
              .training(train_batch_size=args.batch, minibatch_size=min(args.batch, 250), num_epochs=2)
              .debugging(seed=args.seed))
    algo = config.build_algo()
    try:
        started = time.monotonic()
        for i in range(args.iterations):
            result = algo.train()["env_runners"]
            print(f"iteration {i + 1}/{args.iterations}: {result['num_env_steps_sampled_lifetime']:,} env steps, "
                  f"episode return {result.get('episode_return_mean', float('nan')):+.2f}, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
        if args.checkpoint:
            print(f"checkpoint: {algo.save(args.checkpoint).checkpoint.path}")
    finally:
        algo.stop()
        fleet.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
