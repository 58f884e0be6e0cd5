"""PettingZoo and Gymnasium environments: each episode is one LOCKSTEP match on a gametap daemon.

- OpenArenaParallelEnv (PettingZoo ParallelEnv): n agents act simultaneously; all
  of them travel on one Play stream, so a step costs one round trip.
- OpenArenaEnv (Gymnasium Env): one agent against the game's bots.

Observation: gametap.client.features.encode (a float32 vector, see docs/agents.md).
Action: MatchSpec.action_format, one of the formats of gametap.client.envs.actions
(a Dict by default; "box" and "multidiscrete" are flat).
Reward: the change of the agent's score (frags) during the step.
An episode terminates when the match ends (e.g. its frag limit) and is
truncated after max_steps. reset(seed=s) replays the same match for the same s
(the match holds for the agents, so they join at the same frame every time).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from gametap.client import features
from gametap.client.agent import AgentStream
from gametap.client.envs import actions
from gametap.client.sync import DEFAULT_ADDRESS, Client
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

BOOT_FRAMES = 2000  # frames a match may spend loading and gathering its agents


def action_space(action_format: str = "dict") -> spaces.Space:
    """One agent's action space in the format (gametap.client.envs.actions); ValueError for another."""
    return actions.action_space(action_format)


def observation_space() -> spaces.Box:
    """One agent's observation space: Box(-LIMIT, LIMIT, (features.SIZE,), float32)."""
    return spaces.Box(-features.LIMIT, features.LIMIT, (features.SIZE,), np.float32)


@dataclass
class MatchSpec:
    """The match every episode plays (LOCKSTEP)."""
    server: str = DEFAULT_ADDRESS
    token: str | None = None                # the daemon's access token (admin: it creates matches);
                                            # None: $GAMETAP_TOKEN, if set
    map: str = "oa_dm1"
    game_type: int = wpb.GAME_TYPE_FFA
    bots: tuple[tuple[str, int, int], ...] = (("Grism", 1, wpb.TEAM_UNSPECIFIED),)  # (name, skill, team)
    agent_teams: tuple[int, ...] = ()       # per agent; empty = the game picks
    frag_limit: int = 0
    frames_per_step: int = 4
    max_steps: int = 1000
    visibility: int = apb.FULL
    max_turn_degrees: float = 30.0
    auto_respawn: bool = True               # press fire for a dead agent, so it comes back
    action_timeout_ms: int = 0
    names: tuple[str, ...] = field(default_factory=tuple)
    action_format: str = "dict"             # see gametap.client.envs.actions
    end_when_agents_leave: bool = True      # a match whose agents are gone (a killed run) ends
    agent_wait_s: int = 600                 # ... and one no agent joined within this time (a warm match)


def agent_names(spec: MatchSpec, n_agents: int) -> list[str]:
    return list(spec.names) or [f"agent_{i}" for i in range(n_agents)]


def match_config(spec: MatchSpec, n_agents: int, seed: int) -> mpb.MatchConfig:
    """The LOCKSTEP match of one episode: held until its agents join, so same seed -> same episode."""
    return mpb.MatchConfig(
        map=spec.map, game_type=spec.game_type, clock=mpb.LOCKSTEP, seed=seed, frag_limit=spec.frag_limit,
        hold_for_agents=n_agents, end_when_agents_leave=spec.end_when_agents_leave, agent_wait_s=spec.agent_wait_s,
        max_frames=BOOT_FRAMES + (spec.max_steps + 1) * spec.frames_per_step,
        bots=[mpb.BotConfig(name=n, skill=k, team=t) for n, k, t in spec.bots])


def slot_specs(spec: MatchSpec, names: list[str]) -> list[apb.SlotSpec]:
    teams = list(spec.agent_teams) or [wpb.TEAM_UNSPECIFIED] * len(names)
    return [apb.SlotSpec(name=n, team=t, visibility=spec.visibility) for n, t in zip(names, teams)]


class _Episodes:
    """Runs one match per episode and drives its agent slots over one Play stream."""

    def __init__(self, spec: MatchSpec, n_agents: int):
        self.spec = spec
        self.names = agent_names(spec, n_agents)
        self.client: Client | None = None
        self.stream: AgentStream | None = None
        self.match_id: str | None = None
        self.viewer_url = ""  # where the daemon's viewer shows the episode's match
        self.clients: list[int] = []
        self.scores: dict[int, int] = {}
        self.steps = 0

    def start(self, seed: int) -> None:
        self.end()
        s = self.spec
        if self.client is None:
            self.client = Client(s.server, token=s.token)
        match = self.client.create_match(match_config(s, len(self.names), seed))
        self.match_id, self.viewer_url = match.id, match.viewer_url
        slots = slot_specs(s, self.names)
        self.stream = AgentStream(self.client, self.match_id, slots, s.frames_per_step, s.action_timeout_ms)
        self.clients = list(self.stream.clients)
        self.stream.observe()
        self.scores = {c: self._player(c).score for c in self.clients}
        self.steps = 0

    @property
    def gone(self) -> set[int]:
        """The episode's agents that left the match (kicked, or dropped): its stream's `left`."""
        return set(self.stream.left) if self.stream is not None else set()

    def _player(self, client: int) -> wpb.Player:
        return self.stream.views[client].players.get(client, wpb.Player(client=client))

    def observation(self, client: int) -> np.ndarray:
        if client in self.gone:  # no player to see from: zeros, as the vector envs give
            return np.zeros(features.SIZE, np.float32)
        return features.encode(self.stream.views[client], client)

    def info(self, client: int, first: bool = False) -> dict:
        """first: the episode's first info (reset's), which also names its match and viewer page
        (left out of step infos, which repeat for a seed)."""
        me = self._player(client)
        info = {"frame": self.stream.frame, "score": me.score, "alive": me.alive, "client": client}
        if first:
            info.update(match_id=self.match_id, viewer_url=self.viewer_url)
        teacher = self.stream.teachers.get(client)
        if teacher is not None:
            info["teacher"] = {"forward": teacher.forward, "strafe": teacher.strafe, "jump": teacher.jump,
                               "yaw": teacher.yaw, "pitch": teacher.pitch, "attack": teacher.attack,
                               "weapon": int(teacher.weapon)}
        return info

    def to_action(self, client: int, a) -> apb.Action:
        me = self._player(client)
        forward, strafe, jump, turn, tilt, attack, weapon = actions.one(self.spec.action_format, a).tolist()
        degrees = self.spec.max_turn_degrees
        return apb.Action(
            client=client, forward=forward, strafe=strafe, jump=jump,
            yaw=(me.view_angles.y + turn * degrees + 180) % 360 - 180,
            pitch=float(np.clip(me.view_angles.x + tilt * degrees, -89, 89)),
            attack=attack > 0.5 or (self.spec.auto_respawn and not me.alive),
            weapon=int(weapon))

    def step(self, actions: dict[int, dict]) -> tuple[dict[int, float], bool, bool]:
        """Acts; returns (rewards, terminated, truncated). An agent that left (in `gone` from
        then on) is rewarded 0: its player, and its score, are no longer in the world."""
        gone = self.gone
        obs = self.stream.step([self.to_action(c, a) for c, a in actions.items() if c not in gone])
        self.steps += 1
        gone = self.gone  # with what this step lost
        rewards = {}
        for c in self.clients:
            if c in gone:
                rewards[c] = 0.0
                continue
            score = self._player(c).score
            rewards[c] = float(score - self.scores[c])
            self.scores[c] = score
        terminated = obs.final
        truncated = not terminated and self.steps >= self.spec.max_steps
        return rewards, terminated, truncated

    def end(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.match_id is not None:
            self.client.stop_match(self.match_id)
            self.match_id = None

    def close(self) -> None:
        self.end()
        if self.client is not None:
            self.client.close()
            self.client = None


class OpenArenaParallelEnv(ParallelEnv):
    """n agents in one LOCKSTEP match an episode, on one Play stream (PettingZoo ParallelEnv)."""

    metadata = {"name": "gametap_openarena_v0", "render_modes": []}

    def __init__(self, n_agents: int = 2, spec: MatchSpec | None = None):
        """Nothing is sent to the daemon until reset().

        Args:
            n_agents: How many agents, named agent_0 ...; spec.names, if given, name them instead
                (and set their number).
            spec: The match every episode plays; None: MatchSpec().
        """
        self.possible_agents = list((spec.names if spec and spec.names else None)
                                    or [f"agent_{i}" for i in range(n_agents)])
        self._episodes = _Episodes(spec or MatchSpec(), len(self.possible_agents))
        self._rng = np.random.default_rng()
        self.agents: list[str] = []

    @functools.cache  # noqa: B019 - one space object per agent, as PettingZoo requires
    def observation_space(self, agent: str) -> spaces.Box:
        """The agent's observation space (the same object on every call)."""
        return observation_space()

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Dict:
        """The agent's action space in spec.action_format (the same object on every call)."""
        return action_space(self._episodes.spec.action_format)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Stops the last episode's match and starts the next one; blocks until every agent has joined.

        Args:
            seed: Reseeds the env's generator, which draws each episode's match seed: the same seed
                replays the same episodes. None: the generator goes on (first seeded by the OS).
            options: Ignored.

        Returns:
            observations: agent -> float32 (features.SIZE,), as features.encode of its view.
            infos: agent -> {"frame", "score", "alive", "client", "match_id", "viewer_url"}, and
                "teacher" (a dict of the bot AI's forward, strafe, jump, yaw, pitch, attack,
                weapon) once the slot's bot AI has chosen.

        Raises:
            grpc.RpcError: As Client.create_match (e.g. INVALID_ARGUMENT for a bad map) and
                AgentStream's constructor.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._episodes.start(int(self._rng.integers(1, 2**31)))
        self._client_of = dict(zip(self.possible_agents, self._episodes.clients))
        self.agents = list(self.possible_agents)
        return self._observations(), {a: self._episodes.info(c, first=True) for a, c in self._client_of.items()}

    def world(self, agent: str):
        """The World behind an agent's observations (its PVS view, or the whole world).

        Args:
            agent: One of possible_agents.

        Returns:
            The World, kept current by step(); only while an episode runs.
        """
        return self._episodes.stream.views[self._client_of[agent]]

    def client(self, agent: str) -> int:
        """The agent's client number in the game (in this episode's match).

        Args:
            agent: One of possible_agents.

        Returns:
            The client number.
        """
        return self._client_of[agent]

    def _observations(self) -> dict[str, np.ndarray]:
        return {a: self._episodes.observation(c) for a, c in self._client_of.items() if a in self.agents}

    def step(self, actions: dict):
        """Acts for the agents and waits for the next observation (one round trip,
        spec.frames_per_step frames).

        Args:
            actions: agent -> action in spec.action_format; agents not in play are ignored, and an
                agent left out keeps its last action.

        Returns:
            observations, rewards, terminations, truncations, infos: dicts by agent, for the
            agents in play. rewards: float, the change of the agent's score (frags) in the step.
            terminations: the match ended, or the agent left it. truncations: spec.max_steps
            steps are done (and the match did not end). infos: as reset's, without match_id and viewer_url. An agent
            that left the match (kicked or dropped) is terminated, with zeros and reward 0, and
            leaves agents. With the match done, or no agent left, agents becomes [] and the
            match is stopped: reset() starts the next episode.

        Raises:
            grpc.RpcError: The status the Play stream ended with (as AgentStream.step).
        """
        rewards, terminated, truncated = self._episodes.step(
            {self._client_of[a]: act for a, act in actions.items() if a in self.agents})
        live = list(self.agents)
        obs = self._observations()
        infos = {a: self._episodes.info(self._client_of[a]) for a in live}
        gone = {a for a in live if self._client_of[a] in self._episodes.gone}
        out = (obs, {a: rewards[self._client_of[a]] for a in live},
               {a: terminated or a in gone for a in live}, dict.fromkeys(live, truncated), infos)
        self.agents = [a for a in live if a not in gone]
        if terminated or truncated or not self.agents:
            self.agents = []
            self._episodes.end()
        return out

    def close(self) -> None:
        """Stops the episode's match, if one runs, and closes the client."""
        self._episodes.close()


class OpenArenaEnv(gymnasium.Env):
    """One agent against the spec's bots, one LOCKSTEP match an episode (Gymnasium Env)."""

    metadata = {"render_modes": []}

    def __init__(self, spec: MatchSpec | None = None):
        """Nothing is sent to the daemon until reset().

        Args:
            spec: The match every episode plays; None: MatchSpec().
        """
        self._episodes = _Episodes(spec or MatchSpec(), 1)
        self.observation_space = observation_space()
        self.action_space = action_space(self._episodes.spec.action_format)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Stops the last episode's match and starts the next one; blocks until the agent has joined.

        Args:
            seed: Reseeds np_random, which draws each episode's match seed: the same seed replays
                the same episodes. None: np_random goes on.
            options: Ignored.

        Returns:
            observation: float32 (features.SIZE,), as features.encode of the agent's view.
            info: {"frame", "score", "alive", "client", "match_id", "viewer_url"}, and "teacher"
                (a dict of the bot AI's forward, strafe, jump, yaw, pitch, attack, weapon) once it
                has chosen.

        Raises:
            grpc.RpcError: As Client.create_match (e.g. INVALID_ARGUMENT for a bad map) and
                AgentStream's constructor.
        """
        super().reset(seed=seed)
        self._episodes.start(int(self.np_random.integers(1, 2**31)))
        (self._client,) = self._episodes.clients
        return self._episodes.observation(self._client), self._episodes.info(self._client, first=True)

    def world(self):
        """The World behind the observations (the agent's PVS view, or the whole world).

        Returns:
            The World, kept current by step(); only while an episode runs.
        """
        return self._episodes.stream.views[self._client]

    @property
    def client(self) -> int:
        """The agent's client number in the game (in this episode's match; set by reset())."""
        return self._client

    def step(self, action):
        """Acts and waits for the next observation (one round trip, spec.frames_per_step frames).

        Args:
            action: An element of action_space (spec.action_format).

        Returns:
            observation: float32 (features.SIZE,).
            reward: float, the change of the agent's score (frags) in the step.
            terminated: The match ended, or the agent left it (kicked or dropped: its observation
                is then zeros and its reward 0).
            truncated: spec.max_steps steps are done (and the match did not end).
            info: As reset's, without match_id and viewer_url.
            With either done the match is stopped: reset() starts the next episode.

        Raises:
            grpc.RpcError: The status the Play stream ended with (as AgentStream.step).
        """
        rewards, terminated, truncated = self._episodes.step({self._client: action})
        terminated = terminated or self._client in self._episodes.gone  # kicked, or dropped
        truncated = truncated and not terminated
        obs, info = self._episodes.observation(self._client), self._episodes.info(self._client)
        if terminated or truncated:
            self._episodes.end()
        return obs, rewards[self._client], terminated, truncated, info

    def close(self) -> None:
        """Stops the episode's match, if one runs, and closes the client."""
        self._episodes.close()
