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
        """Starts every env's next episode; recv() then returns them, batch_size at a time.

        Blocks until every env's match has been created (their agents join in the recv()).

        Args:
            seed: An int: env i draws its episodes' match seeds from np.random.default_rng([seed, i]);
                a list: one seed per env; None: the first reset seeds from the OS, later ones go on
                with the envs' generators. A new seed drops the warm matches made with the old one.

        Raises:
            grpc.RpcError: As Client.create_match (e.g. INVALID_ARGUMENT for a bad map).
            RuntimeError: A match's worker cannot be reached (PlayMany is served by workers only).
        """
        if seed is not None or not getattr(self, "_seeded", False):
            self._vec.drain()
            self._vec.seed(seed)
            self._seeded = True
        self._vec.start()

    def send(self, actions_, env_ids=None, flush: bool = True) -> None:
        """Acts for env_ids (default: all), without waiting; recv() gets the outcome.

        An env whose episode ended starts its next one instead (NEXT_STEP autoreset: its action is
        ignored, its reward 0, not done).

        Args:
            actions_: A batch of actions in the spec's action_format, one per agent of env_ids in
                order (OpenArenaVectorEnv: (len(env_ids), ...); MultiAgentVectorEnv:
                (len(env_ids), agents_per_match, ...)).
            env_ids: The envs that act; None: every env.
            flush: False leaves the writing to the recv() that follows at once.

        Raises:
            RuntimeError: One of env_ids has a step in flight (recv() it first), or the worker of
                a new episode's match cannot be reached.
            ValueError: actions_ is not of that many actions of the format.
        """
        ids = self._all if env_ids is None else np.asarray(env_ids, np.int64)
        k = self._vec.k
        controls = actions.normalized(self._format, actions_, len(ids) * k).reshape(len(ids), k, -1)
        self._vec.send(controls, ids, flush=flush)

    def recv(self):
        """batch_size envs, the first whose results came (info["env_id"]); without batch_size, all sent.

        Blocks until that many results are in.

        Returns:
            (obs, rewards, terminated, truncated, infos) of those envs, as step() returns them
            (n = batch_size, in the order their results came; without batch_size, every env
            sent, in index order).

        Raises:
            RuntimeError: Fewer than batch_size results are ready and nothing is in flight, or a
                new episode's match refused its agents.
            grpc.RpcError, EOFError: A worker ended its PlayMany stream (with an error, or without).
        """
        return self._result(self._vec.recv(self._batch))

    def step(self, actions_):
        """Acts for every env and waits for all of them (send(), then recv() of all; batch_size does
        not apply).

        Args:
            actions_: One action per agent of every env, in the spec's action_format.

        Returns:
            obs: float32 (n, SIZE) (MultiAgentVectorEnv: (M, k, SIZE)); zeros for an agent that left.
            rewards: float32 (n,) ((M, k)): the change of each agent's score (frags); 0 on the
                step that autoresets an env.
            terminated: bool (n,) ((M, k)): the match ended, or the agent left it.
            truncated: bool (n,) ((M, k)): the episode reached max_steps, or its match failed.
            infos: arrays by env, each with its `_key` mask: "env_id", "match_id", "viewer_url",
                "frame", "episode_step", "alive" and "active" ((n, k): the agent is in its match),
                and "error" (the failure's message) for an env whose match failed.

        Raises:
            RuntimeError, grpc.RpcError, EOFError: As send() and recv().
        """
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
        """spec_fields override the MatchSpec's fields (e.g. action_format="box", max_steps=500).

        Opens the client; no match starts until reset() or async_reset().

        Args:
            num_envs: How many matches, one agent each.
            spec: The match every episode plays; None: MatchSpec().
            batch_size: How many envs recv() returns (1..num_envs); None: all that were sent.
            matches_per_worker: Envs whose matches share one worker (one placement group), so one
                PlayMany message a step carries them.
            **spec_fields: MatchSpec fields to override.

        Raises:
            ValueError: batch_size is not 1..num_envs; num_envs or matches_per_worker is below 1;
                an unknown action_format.
            TypeError: A spec_fields name that is not a MatchSpec field.
        """
        spec = _spec(spec, spec_fields)
        self.num_envs = num_envs
        self.single_observation_space = observation_space()
        self.single_action_space = actions.action_space(spec.action_format)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._init_vector(num_envs, 1, spec, batch_size, matches_per_worker)

    def reset(self, *, seed=None, options=None):
        """Starts every env's next episode and waits for all their first observations.

        Args:
            seed: As async_reset's (an int, a list of one per env, or None).
            options: Ignored.

        Returns:
            obs: float32 (num_envs, SIZE).
            infos: As step()'s.

        Raises:
            grpc.RpcError, RuntimeError: As async_reset() and recv().
        """
        super().reset(seed=seed if isinstance(seed, int) else None)
        obs, infos = self._reset_all(seed)
        return obs[:, 0], infos

    @staticmethod
    def _result(b: Batch):  # one agent per match: drop the agents axis
        return b.obs[:, 0], b.rewards[:, 0], b.terminated[:, 0], b.truncated[:, 0], b.infos

    def close_extras(self, **kwargs) -> None:
        """VectorEnv.close's part: every agent leaves, the warm matches are stopped, the client closes
        (errors of a daemon already gone are ignored)."""
        self._vec.close()


class MultiAgentVectorEnv(_Async):
    """num_matches x agents_per_match agents: observations (M, k, SIZE), actions (M, k, ...),
    rewards, terminations and truncations (M, k); info["active"] (M, k) masks the agents in play."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_matches: int = 2, agents_per_match: int = 2, spec: MatchSpec | None = None,
                 batch_size: int | None = None, matches_per_worker: int = MATCHES_PER_WORKER, **spec_fields):
        """Opens the client; no match starts until reset() or async_reset().

        Args:
            num_matches: How many matches (M).
            agents_per_match: Agents in each match (k); spec.agent_teams, if given, has one team each.
            spec, batch_size, matches_per_worker, **spec_fields: As OpenArenaVectorEnv's
                (batch_size counts matches).

        Raises:
            ValueError, TypeError: As OpenArenaVectorEnv's.
        """
        spec = _spec(spec, spec_fields)
        self.num_matches, self.agents_per_match = num_matches, agents_per_match
        self.single_observation_space = observation_space()
        self.single_action_space = actions.action_space(spec.action_format)
        self._init_vector(num_matches, agents_per_match, spec, batch_size, matches_per_worker)

    def reset(self, *, seed=None, options=None):
        """Starts every match's next episode and waits for all their first observations.

        Args:
            seed: As async_reset's.
            options: Ignored.

        Returns:
            obs: float32 (M, k, SIZE).
            infos: As step()'s.

        Raises:
            grpc.RpcError, RuntimeError: As async_reset() and recv().
        """
        return self._reset_all(seed)

    def close(self) -> None:
        """Every agent leaves, the warm matches are stopped, the client closes (errors of a daemon
        already gone are ignored)."""
        self._vec.close()
