"""MatchVector: M LOCKSTEP matches of k agents each, stepped as one array over PlayMany.

The engine under the vector envs. Every step is one message per worker each way; the
observations are the daemon's feature tensors (FEATURES), read with np.frombuffer, so no
world is decoded here. Each sub-env plays one match per episode:

- Warm matches: while an episode runs, the match of the sub-env's next episode is already
  created, with its seed, and holds at its first frame until the agents join; a reset is
  then a leave and a join in the next step's message, not a game process starting.
- Seeds: sub-env i draws its episodes' seeds from np.random.default_rng([seed, i]), so the
  same seed replays the same episodes (a held match lets its agents in at the same frame
  every time, and the game's RNG is seeded).
- Autoreset NEXT_STEP: the step after an episode's end resets that sub-env (its action is
  ignored; reward 0, not done).
- send()/recv(): several batches of sub-envs in flight at once; recv() returns the oldest.
"""
from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from gametap.client import features
from gametap.client.envs import actions
from gametap.client.envs.single import MatchSpec, agent_names, match_config, slot_specs
from gametap.client.sync import Client, PendingMatch
from gametap.client.vector import VectorPlay
from gametap.v1 import agent_pb2 as apb

# Sub-envs whose matches share one worker, so one PlayMany message a step carries them. Measured
# on the 2-core VM with 8 matches: all on one worker ~5,000 agent steps/s, spread over two ~4,600
# (each message costs the client ~300 us of CPU; a worker's own work is ~50 us per match-step).
MATCHES_PER_WORKER = 8
_SCORE = features.SELF.index("score")
_ALIVE = features.SELF.index("alive")


@dataclass(eq=False)
class SubEnv:
    """One match slot of the vector: the episode it plays now and the next one, warm.
    (Its observations, scores and masks are rows of MatchVector's arrays.)"""
    index: int
    rng: np.random.Generator
    member: int | None = None                 # its member key on the PlayMany streams
    clients: list[int] = field(default_factory=list)  # its agents' client numbers, as joined
    present: list[int] = field(default_factory=list)  # those still in the match
    warm: PendingMatch | None = None          # the match of the next episode, on its way
    ended_at: float = 0.0                     # when its last episode's end was seen (reset latency)


@dataclass
class Batch:
    """What recv() returns for the sub-envs of one send(), in the order sent."""
    ids: np.ndarray          # (n,) sub-env indices
    obs: np.ndarray          # (n, k, SIZE)
    rewards: np.ndarray      # (n, k)
    terminated: np.ndarray   # (n, k): the match ended, or the agent left it
    truncated: np.ndarray    # (n, k): the episode reached max_steps
    infos: dict


class MatchVector:
    def __init__(self, num_matches: int, agents_per_match: int, spec: MatchSpec,
                 matches_per_worker: int = MATCHES_PER_WORKER):
        if num_matches < 1 or agents_per_match < 1 or matches_per_worker < 1:
            raise ValueError("num_matches, agents_per_match and matches_per_worker must be >= 1")
        self.spec = spec
        self.k = agents_per_match
        self.names = agent_names(spec, agents_per_match)
        self.client = Client(spec.server, token=spec.token)
        self.play = VectorPlay(self.client)
        self.subs = [SubEnv(i, np.random.default_rng([0, i])) for i in range(num_matches)]
        group = f"vec-{uuid.uuid4().hex[:12]}"
        self._group = [f"{group}-{i // matches_per_worker}" for i in range(num_matches)]  # placement groups
        m, k = num_matches, self.k
        self.feats = np.zeros((m, k, features.SIZE), np.float32)  # the last observation of each agent
        self.scores = np.zeros((m, k), np.float32)
        self.active = np.zeros((m, k), bool)     # the agent is in its match
        self.frames = np.zeros(m, np.int64)
        self.steps = np.zeros(m, np.int64)       # steps into the episode
        self.done = np.ones(m, bool)             # no episode runs: the next send() starts one
        self.match_ids = np.full(m, "", object)
        self.viewer_urls = np.full(m, "", object)  # where the daemon's viewer shows each episode's match
        self._keys = itertools.count(1)
        self._env_of: dict[int, int] = {}             # member key -> sub-env
        self.waiting = np.zeros(m, bool)             # sent, its result not in yet
        self._acted = np.zeros(m, bool)              # its last send acted (not: started an episode)
        self._ready: deque[int] = deque()            # sub-envs whose results came, not returned yet
        self._reward = np.zeros((m, k), np.float32)  # the results of each sub-env's last step
        self._terminated = np.zeros((m, k), bool)
        self._truncated = np.zeros((m, k), bool)
        self._error = np.full(m, "", object)
        self._has_error = np.zeros(m, bool)
        self._all = list(range(m))
        self.reset_seconds: list[float] = []   # each autoreset: episode end seen -> next first observation

    # ---- seeds and matches ----

    def seed(self, seed: int | list[int] | None) -> None:
        """New episode seeds for every sub-env; warm matches made with the old ones are dropped."""
        if isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed)
        else:
            base = int(np.random.SeedSequence(seed).entropy) if seed is None else int(seed)
            seeds = [[base, i] for i in range(len(self.subs))]
        for sub, s in zip(self.subs, seeds):
            sub.rng = np.random.default_rng(s)
            self._drop_warm(sub)

    def _drop_warm(self, sub: SubEnv) -> None:
        if sub.warm is not None:
            warm, sub.warm = sub.warm, None
            try:
                self.client.stop_match(warm.result().id)
            except Exception:  # noqa: BLE001 - it never started, or ended already: nothing to stop
                pass

    def _prepare(self, sub: SubEnv) -> None:
        if sub.warm is None:
            seed = int(sub.rng.integers(1, 2**31))
            sub.warm = self.client.create_match_later(match_config(self.spec, self.k, seed), self._group[sub.index])

    def _join(self, sub: SubEnv) -> tuple[int, apb.JoinRequest]:
        """The sub-env's next episode: its warm match (waiting for it if it is still starting)."""
        self._prepare(sub)
        match = sub.warm.result()
        sub.warm = None
        sub.member = next(self._keys)
        self._env_of[sub.member] = sub.index
        self.match_ids[sub.index], self.viewer_urls[sub.index] = match.id, match.viewer_url
        s = self.spec
        return sub.member, apb.JoinRequest(match_id=match.id, slots=slot_specs(s, self.names),
                                           frames_per_step=s.frames_per_step,
                                           action_timeout_ms=s.action_timeout_ms, observation=apb.FEATURES)

    # ---- stepping ----

    def start(self) -> None:
        """Starts a new episode in every sub-env (recv() returns their first observations)."""
        self.drain()
        leaves = [s.member for s in self.subs if s.member is not None]
        self.done[:] = True
        for sub in self.subs:
            sub.member = None
            self._prepare(sub)  # every match starts at once
        ids = np.arange(len(self.subs))
        self.send(np.zeros((len(ids), self.k, len(actions.NORMALIZED)), np.float32), ids, leaves=leaves)

    def send(self, controls: np.ndarray, ids: np.ndarray, leaves=(), flush: bool = True) -> None:
        """controls: (n, k, 7) NORMALIZED actions for sub-envs ids; a sub-env whose episode
        ended starts its next one instead (its controls are ignored). flush=False: a recv()
        follows at once and writes the requests itself."""
        ids = np.asarray(ids, np.int64)
        if self.waiting[ids].any():
            raise RuntimeError(f"sub-envs {ids[self.waiting[ids]].tolist()} have a step in flight; recv() first")
        acting = ~self.done[ids]
        leaves, joins, act = list(leaves), [], []
        for i, acts in zip(ids.tolist(), acting.tolist()):
            sub = self.subs[i]
            if acts:
                act.append(sub.member)
                continue
            if sub.member is not None:
                leaves.append(sub.member)  # its match ends (end_when_agents_leave)
                self._env_of.pop(sub.member, None)
            joins.append(self._join(sub))
        rows = None
        if act:
            acted = ids[acting]
            rows = actions.rows_from_features(controls[acting].reshape(-1, len(actions.NORMALIZED)),
                                              self.feats[acted].reshape(-1, features.SIZE),
                                              self.spec.max_turn_degrees, self.spec.auto_respawn)
        self.play.send(act=act, rows=rows, joins=joins, leaves=leaves, flush=flush)
        self.waiting[ids] = True
        self._acted[ids] = acting

    def recv(self, n: int | None = None) -> Batch:
        """n=None: every sub-env in flight, in index order. n: the first n sub-envs whose
        results came (waiting for workers' answers as needed), in the order they came."""
        if n is None:
            if self.waiting.any():
                self._absorb(self.play.recv())
            ids = np.array(sorted(self._ready), np.int64)
            self._ready.clear()
        else:
            while len(self._ready) < n:
                if not self.play.in_flight:
                    raise RuntimeError(f"recv({n}) with {len(self._ready)} results ready and nothing in flight")
                self._absorb(self.play.recv_any())
            ids = np.array([self._ready.popleft() for _ in range(n)], np.int64)
        return Batch(ids, self.feats[ids], self._reward[ids], self._terminated[ids], self._truncated[ids],
                     self._infos(ids))

    def drain(self) -> None:
        """Reads every answer still in flight, for nobody (before a reset, or closing)."""
        if self.play.in_flight:
            self._absorb(self.play.recv())
        self._ready.clear()

    def _absorb(self, result) -> None:
        """Takes the results of one or more worker messages into the sub-envs' arrays."""
        plain, other = [], []  # plain: a step with every agent in, read in bulk below
        for member, obs in result.observations.items():
            i = self._env_of.get(member)
            if i is None or not self.waiting[i]:
                continue  # a member that left: an answer to a leave
            if self._acted[i] and not obs.left and len(self.subs[i].present) == self.k:
                plain.append((i, obs))
            else:
                other.append((i, member))
        for member in result.errors:
            i = self._env_of.get(member)
            if member not in result.observations and i is not None and self.waiting[i]:
                other.append((i, member))
        if plain:
            self._absorb_plain(plain)
        stepped, final = [], []
        for i, member in other:
            sub = self.subs[i]
            self._settle([i], i)
            if not self._acted[i]:
                self._started(sub, result)
                continue
            obs = result.observations.get(member)
            if obs is None:  # e.g. its match failed: the episode is cut short
                self._error[i] = result.errors[member].message
                self._has_error[i] = True
                self._truncated[i] = self.active[i]
                self.done[i] = True
                continue
            was_active = self.active[i].copy()
            self._read(sub, obs)
            self._terminated[i] = was_active & ~self.active[i]
            stepped.append(i)
            final.append(obs.final)
        if stepped:
            self._account(np.array(stepped, np.int64), np.array(final, bool))

    def _settle(self, ids: list[int], at) -> None:
        """The results of sub-envs ids (at: the same, as an index, indices or a slice) are in:
        ready, their last step's outcome cleared."""
        self.waiting[at] = False
        self._ready.extend(ids)
        self._reward[at], self._terminated[at], self._truncated[at] = 0, False, False
        self._error[at], self._has_error[at] = "", False

    def _absorb_plain(self, plain: list) -> None:
        """Steps of sub-envs whose agents are all in (the usual case): one array operation each."""
        ids = [i for i, _ in plain]
        rows = np.frombuffer(b"".join(obs.features for _, obs in plain), np.float32)
        final = np.array([obs.final for _, obs in plain], bool)
        frames = [obs.frame for _, obs in plain]
        at = slice(None) if ids == self._all else np.array(ids, np.int64)  # every sub-env: views, not copies
        self._settle(ids, at)
        self.feats[at] = rows.reshape(len(ids), self.k, features.SIZE)
        self.frames[at] = frames
        self._account(at, final)

    def _account(self, i, final: np.ndarray) -> None:
        """Rewards and episode ends of the sub-envs i (indices, or a slice) that stepped."""
        self.steps[i] += 1
        score = self.feats[i, :, _SCORE]
        active = self.active[i]
        self._reward[i] = np.where(active, np.rint((score - self.scores[i]) * 10), 0)
        self.scores[i] = score
        self._terminated[i] |= final[:, None]
        cut = ~final & (self.steps[i] >= self.spec.max_steps)
        self._truncated[i] = cut[:, None] & active
        done = final | cut | ~active.any(axis=1)
        if done.any():
            ended = np.arange(len(self.subs))[i][done]
            self.done[ended] = True
            now = time.perf_counter()
            for index in ended.tolist():
                self.subs[index].ended_at = now

    def _started(self, sub: SubEnv, result) -> None:
        error = result.errors.get(sub.member)
        if error is not None:
            raise RuntimeError(f"sub-env {sub.index}: match {self.match_ids[sub.index]} refused its agents: "
                               f"{error.message}")
        i = sub.index
        sub.clients = list(result.joined[sub.member].clients)
        sub.present = list(sub.clients)
        self.active[i] = True
        self.steps[i], self.done[i] = 0, False
        self._read(sub, result.observations[sub.member])
        self.scores[i] = self.feats[i, :, _SCORE]
        self._prepare(sub)  # the next episode's match starts now, while this one runs
        if sub.ended_at:
            self.reset_seconds.append(time.perf_counter() - sub.ended_at)
            sub.ended_at = 0.0

    def _read(self, sub: SubEnv, obs: apb.Observation) -> None:
        i = sub.index
        self.frames[i] = obs.frame
        rows = np.frombuffer(obs.features, np.float32).reshape(-1, features.SIZE)
        if not obs.left and len(rows) == self.k == len(sub.present):
            self.feats[i] = rows  # every agent in, in join order: the usual case
            return
        for client in obs.left:
            if client in sub.present:
                sub.present.remove(client)
                self.active[i, sub.clients.index(client)] = False
        self.feats[i] = 0  # an agent that left: zeros
        for s, row in zip(obs.slots, rows):
            if s.client in sub.clients:
                self.feats[i, sub.clients.index(s.client)] = row

    def _infos(self, ids: np.ndarray) -> dict:
        every = np.ones(len(ids), bool)
        infos = {
            "env_id": ids, "_env_id": every,
            "match_id": self.match_ids[ids], "_match_id": every,
            "viewer_url": self.viewer_urls[ids], "_viewer_url": every,
            "frame": self.frames[ids], "_frame": every,
            "episode_step": self.steps[ids], "_episode_step": every,
            "alive": self.feats[ids, :, _ALIVE] > 0.5, "_alive": every,
            "active": self.active[ids], "_active": every,
        }
        if self._has_error[ids].any():
            infos["error"], infos["_error"] = self._error[ids], self._has_error[ids]
        return infos

    def close(self) -> None:
        members = [s.member for s in self.subs if s.member is not None]
        try:
            self.drain()
            if members:
                self.play.send(leaves=members)
                self.play.recv()
        except Exception:  # noqa: BLE001 - closing: the daemon may be gone already
            pass
        for sub in self.subs:
            try:
                self._drop_warm(sub)
            except Exception:  # noqa: BLE001
                pass
        self.play.close()
        self.client.close()

