"""Behavioural cloning end to end: record bot-only matches, export the bots' play, train a small
policy to imitate them, then let it play against bots beside a random agent.

    .venv/bin/python examples/behavioural_cloning.py --server 127.0.0.1:50051
    (the figures in docs/recordings.md: the defaults; --matches 1 --frames 1200 --epochs 2 --eval-steps 100 is a smoke run)

1. Record: `--matches` LOCKSTEP matches of four bots (skill 3), `--frames` frames each (20 per
   second of game time). Their recordings hold every bot's command each frame.
2. Export: gametap.recordings.export turns each bot into (features, controls) pairs, the envs' own
   observation and action (forward, strafe, jump, turn, tilt, attack), every 4 frames.
3. Train: an MLP (features and the previous step's controls -> 64 -> 64 -> controls; tanh) in
   numpy, with Adam: squared error on the five continuous controls, cross-entropy on attack. numpy rather than torch: the
   policy is small, numpy is gametap's own dependency already, and the example runs anywhere
   the client does.
4. Evaluate: the policy and a random agent each play the same `--eval-matches` seeds against
   two skill-3 bots for `--eval-steps` steps; frags and deaths of each, and frags per minute.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from gametap.recordings import export
from gametap.client import Client
from gametap.client.envs import MatchSpec, OpenArenaEnv
from gametap.v1 import match_pb2 as mpb

BOTS = ("Sarge", "Grism", "Major", "Kyonshi")
RIVALS = (("Sarge", 1, 0), ("Grism", 1, 0))
FRAMES_PER_STEP = 4
SECONDS_PER_STEP = FRAMES_PER_STEP / 20  # sv_fps 20


def record(client: Client, matches: int, frames: int, seed: int) -> list[str]:
    ids = []
    for i in range(matches):
        config = mpb.MatchConfig(clock=mpb.LOCKSTEP, seed=seed + i, max_frames=frames,
                                 bots=[mpb.BotConfig(name=n, skill=3) for n in BOTS])
        match = client.create_match(config)
        while client.get_match(match.id).status not in (mpb.FINISHED, mpb.STOPPED, mpb.FAILED):
            time.sleep(0.1)
        print(f"recorded match {match.id} ({frames} frames, bots {', '.join(BOTS)})", flush=True)
        ids.append(match.id)
    return ids


def dataset(client: Client, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (features and the previous step's controls) and target controls of every bot step."""
    xs, ys = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for match_id in ids:
            path = client.download_recording(match_id, Path(tmp) / f"{match_id}.gtrec")
            m = export.to_arrays(path, frames_per_step=FRAMES_PER_STEP)
            for p in range(len(m.names)):
                take = m.active[:-1, p]  # steps the bot played (a turn past max_turn_degrees is clipped to 1)
                controls = m.actions[:, p, :6]
                previous = np.vstack([np.zeros((1, 6), np.float32), controls[:-1]])
                xs.append(np.hstack([m.observations[:-1, p], previous])[take])
                ys.append(controls[take])
    x, y = np.concatenate(xs), np.concatenate(ys)
    print(f"exported {len(x):,} bot steps ({len(ids)} matches)", flush=True)
    return x, y


class Policy:
    """features -> (forward, strafe, jump, turn, tilt) in -1..1 and P(attack)."""

    def __init__(self, n_in: int, rng: np.random.Generator, hidden: int = 64):
        sizes = [n_in, hidden, hidden, 6]
        self.w = [rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = acts[-1] @ w + b
            acts.append(np.tanh(z) if i < len(self.w) - 1 else z)
        out = acts[-1]
        return np.concatenate([np.tanh(out[:, :5]), 1 / (1 + np.exp(-out[:, 5:]))], axis=1), acts

    def train(self, x: np.ndarray, y: np.ndarray, epochs: int, rng: np.random.Generator, lr: float = 1e-3) -> None:
        params = self.w + self.b
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        t = 0
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(x), 256):
                batch = order[start:start + 256]
                pred, acts = self.forward(x[batch])
                target = y[batch]
                # d(loss)/d(pre-activation) of the last layer: squared error through tanh, cross-entropy
                grad = np.empty_like(pred)
                grad[:, :5] = 2 * (pred[:, :5] - target[:, :5]) * (1 - pred[:, :5] ** 2) / 5
                grad[:, 5] = pred[:, 5] - target[:, 5]
                total += float(((pred[:, :5] - target[:, :5]) ** 2).mean()) * len(batch)
                grads_w, grads_b = [], []
                for i in reversed(range(len(self.w))):
                    grads_w.insert(0, acts[i].T @ grad / len(batch))
                    grads_b.insert(0, grad.mean(axis=0))
                    if i:
                        grad = (grad @ self.w[i].T) * (1 - acts[i] ** 2)
                t += 1
                for k, (p, g) in enumerate(zip(params, grads_w + grads_b)):  # Adam
                    m[k] = 0.9 * m[k] + 0.1 * g
                    v[k] = 0.999 * v[k] + 0.001 * g * g
                    p -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
            print(f"epoch {epoch + 1}/{epochs}: squared error {total / len(x):.4f}", flush=True)

    def act(self, obs: np.ndarray, previous: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The mean controls, and attack drawn with the predicted probability (the bots fire in
        about one step in eight: a threshold at one half would never fire)."""
        pred, _ = self.forward(np.hstack([obs, previous])[None].astype(np.float32))
        action = pred[0, :6].copy()
        action[5] = 1.0 if rng.random() < pred[0, 5] else -1.0  # the box format fires above 0
        return action


class Cloned:
    """The policy as an agent: it remembers its last controls (an input, as in training)."""

    def __init__(self, policy: Policy, rng: np.random.Generator):
        self.policy, self.rng, self.previous = policy, rng, np.zeros(6, np.float32)

    def __call__(self, env, obs: np.ndarray) -> np.ndarray:
        action = self.policy.act(obs, self.previous, self.rng)
        self.previous = action.copy()
        self.previous[5] = float(action[5] > 0)  # attack as the export gives it: 0 or 1
        return action


def play(server: str, choose, seeds: list[int], steps: int) -> tuple[int, int]:
    """Frags and deaths over one match per seed against RIVALS."""
    frags = deaths = 0
    env = OpenArenaEnv(MatchSpec(server=server, bots=RIVALS, max_steps=steps, action_format="box",
                                 frames_per_step=FRAMES_PER_STEP))
    try:
        for seed in seeds:
            obs, info = env.reset(seed=seed)
            env.action_space.seed(seed)
            done, was_alive = False, True
            while not done:
                obs, _, terminated, truncated, info = env.step(choose(env, obs))
                deaths += was_alive and not info["alive"]
                was_alive = info["alive"]
                done = terminated or truncated
            frags += info["score"]
    finally:
        env.close()
    return frags, deaths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--matches", type=int, default=6, help="bot-only matches to record")
    p.add_argument("--frames", type=int, default=12000, help="frames per recorded match (20 per second)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--eval-matches", type=int, default=4)
    p.add_argument("--eval-steps", type=int, default=1500, help="steps of 4 frames per evaluation match")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    with Client(a.server) as client:
        x, y = dataset(client, record(client, a.matches, a.frames, a.seed))
    policy = Policy(x.shape[1], rng)
    policy.train(x, y, a.epochs, rng)
    seeds = [1000 + a.seed + i for i in range(a.eval_matches)]
    minutes = len(seeds) * a.eval_steps * SECONDS_PER_STEP / 60
    results = {
        "cloned policy": play(a.server, Cloned(policy, rng), seeds, a.eval_steps),
        "random agent": play(a.server, lambda env, obs: env.action_space.sample(), seeds, a.eval_steps),
    }
    for name, (frags, deaths) in results.items():
        print(f"{name}: {frags} frags, {deaths} deaths in {minutes:.1f} minutes of play "
              f"({frags / minutes:.2f} frags per minute)")


if __name__ == "__main__":
    main()
