"""Many matches of a random agent as plain Ray tasks, their recordings gathered in one place.

    .venv/bin/python examples/ray_many_matches.py --matches 8 --steps 200 --out recordings/
    .venv/bin/python examples/ray_many_matches.py --address auto ...   # on a running cluster

A gametap.ray.Fleet puts a daemon on every node. Each task plays one episode on the node Ray
runs it on, through that node's daemon on loopback, and returns the match's recording. Only
the recordings cross the network; the driver writes them to --out as <match id>.gtrec.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ray

from gametap.client import Client
from gametap.client.envs import MatchSpec, OpenArenaEnv
from gametap.ray import Fleet, local_daemon_address


@ray.remote(num_cpus=1)  # the task's CPU is the game's: the agent's share is small
def play_one(seed: int, steps: int) -> tuple[str, str, bytes]:
    """One episode of a random agent against a bot; (match id, node id, the recording)."""
    server = local_daemon_address()
    env = OpenArenaEnv(MatchSpec(server=server, max_steps=steps))
    try:
        _, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    finally:
        env.close()
    match_id = info["match_id"]
    with Client(server) as client, tempfile.TemporaryDirectory() as tmp:
        client.wait_ended(match_id, 60)  # the recording is whole once the match ends
        data = client.download_recording(match_id, Path(tmp) / "rec").read_bytes()
    return match_id, ray.get_runtime_context().get_node_id(), data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", default=None, help="a Ray cluster to join (default: start one on this machine)")
    p.add_argument("--matches", type=int, default=8)
    p.add_argument("--steps", type=int, default=200, help="steps of 4 frames (0.2 s of game time) each")
    p.add_argument("--seed", type=int, default=1, help="match i plays seed + i")
    p.add_argument("--out", type=Path, default=Path("recordings"))
    args = p.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    fleet = Fleet()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        pending = [play_one.remote(args.seed + i, args.steps) for i in range(args.matches)]
        nodes, total = set(), 0
        while pending:
            done, pending = ray.wait(pending)
            match_id, node_id, data = ray.get(done[0])
            (args.out / f"{match_id}.gtrec").write_bytes(data)
            nodes.add(node_id)
            total += len(data)
            print(f"  {args.matches - len(pending)}/{args.matches}: match {match_id} on node {node_id[:12]}, "
                  f"{len(data):,} bytes", flush=True)
        print(f"{args.matches} recordings from {len(nodes)} node(s), {total:,} bytes, in {args.out}/")
    finally:
        fleet.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
