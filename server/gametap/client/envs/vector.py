"""Vector envs over many matches (gametap.client.envs.matches.MatchVector underneath).

- OpenArenaVectorEnv: a gymnasium.vector.VectorEnv of num_envs matches, one agent each
  (plus the spec's bots). NEXT_STEP autoreset; infos batched with `_key` masks, each
  episode's match id in info["match_id"].
- MultiAgentVectorEnv: num_matches matches of agents_per_match agents, stepped as arrays
  (matches, agents, ...), for self-play and team training. An agent that leaves its match
  gets terminated once and is masked out after (info["active"]); its observation is zeros.

Both step asynchronously as EnvPool does: async_reset(), then recv() returns the first
batch_size envs whose results came (info["env_id"] says which) and send(actions, env_ids)
answers them, so the games of the other envs run while the learner computes. A worker
answers for all its envs in one message, so with batch_size = the envs per worker the
learner alternates between workers.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gametap.client.envs import actions
from gametap.client.envs.matches import MATCHES_PER_WORKER, Batch, MatchVector
from gametap.client.envs.single import MatchSpec, observation_space


def _spec(spec: MatchSpec | None, overrides: dict) -> MatchSpec:
    return replace(spec or MatchSpec(), **overrides)


def _batch_size(n: int, batch_size: int | None) -> int | None:
    if batch_size is not None and not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be 1..{n}")
    return batch_size


class _Async:
    """send/recv/async_reset over a MatchVector, for either shape of env."""

    def _init_vector(self, num_matches: int, agents: int, spec: MatchSpec, batch_size: int | None,
                     matches_per_worker: int) -> None:
        self._vec = MatchVector(num_matches, agents, spec, matches_per_worker)
        self._batch = _batch_size(num_matches, batch_size)
        self._format = spec.action_format
        self._all = np.arange(num_matches)

    def async_reset(self, seed=None) -> None:
        """Starts every env's next episode; recv() then returns them, batch_size at a time."""
        if seed is not None or not getattr(self, "_seeded", False):
            self._vec.drain()
            self._vec.seed(seed)
            self._seeded = True
        self._vec.start()

    def send(self, actions_, env_ids=None, flush: bool = True) -> None:
        """Acts for env_ids (default: all), without waiting; recv() gets the outcome."""
        ids = self._all if env_ids is None else np.asarray(env_ids, np.int64)
        k = self._vec.k
        controls = actions.normalized(self._format, actions_, len(ids) * k).reshape(len(ids), k, -1)
        self._vec.send(controls, ids, flush=flush)

    def recv(self):
        """batch_size envs, the first whose results came (info["env_id"]); without batch_size, all sent."""
        return self._result(self._vec.recv(self._batch))

    def step(self, actions_):
        self.send(actions_, flush=False)  # the recv() writes and reads in one turn of the loop
        return self._result(self._vec.recv())

    @staticmethod
    def _result(b: Batch):
        """(obs, rewards, terminated, truncated, infos) in the env's shape."""
        return b.obs, b.rewards, b.terminated, b.truncated, b.infos

    def _reset_all(self, seed):
        self.async_reset(seed)
        b = self._vec.recv()
        return b.obs, b.infos

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def reset_seconds(self) -> list[float]:
        """Each autoreset's latency: the episode's end seen -> the next episode's first observation."""
        return self._vec.reset_seconds


class OpenArenaVectorEnv(_Async, VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 4, spec: MatchSpec | None = None, batch_size: int | None = None,
                 matches_per_worker: int = MATCHES_PER_WORKER, **spec_fields):
        """spec_fields override the MatchSpec's fields (e.g. action_format="box", max_steps=500)."""
        spec = _spec(spec, spec_fields)
        self.num_envs = num_envs
        self.single_observation_space = observation_space()
        self.single_action_space = actions.action_space(spec.action_format)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._init_vector(num_envs, 1, spec, batch_size, matches_per_worker)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed if isinstance(seed, int) else None)
        obs, infos = self._reset_all(seed)
        return obs[:, 0], infos

    @staticmethod
    def _result(b: Batch):  # one agent per match: drop the agents axis
        return b.obs[:, 0], b.rewards[:, 0], b.terminated[:, 0], b.truncated[:, 0], b.infos

    def close_extras(self, **kwargs) -> None:
        self._vec.close()


class MultiAgentVectorEnv(_Async):
    """num_matches x agents_per_match agents: observations (M, k, SIZE), actions (M, k, ...),
    rewards, terminations and truncations (M, k); info["active"] (M, k) masks the agents in play."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_matches: int = 2, agents_per_match: int = 2, spec: MatchSpec | None = None,
                 batch_size: int | None = None, matches_per_worker: int = MATCHES_PER_WORKER, **spec_fields):
        spec = _spec(spec, spec_fields)
        self.num_matches, self.agents_per_match = num_matches, agents_per_match
        self.single_observation_space = observation_space()
        self.single_action_space = actions.action_space(spec.action_format)
        self._init_vector(num_matches, agents_per_match, spec, batch_size, matches_per_worker)

    def reset(self, *, seed=None, options=None):
        return self._reset_all(seed)

    def close(self) -> None:
        self._vec.close()
