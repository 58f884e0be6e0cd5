"""Worlds (match setups a connection can join) and what one joined connection plays.

A world is its settings; creating one starts nothing. A joined connection plays one agent,
one LOCKSTEP match per episode, through gametap.client.envs.OpenArenaEnv: its first step
(after the join, a Reset, or the end of an episode) starts an episode and ignores its actions,
as dm_env_rpc asks; a step that ends the match or reaches max_steps ends the episode.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from gametap.client.envs.single import MatchSpec, OpenArenaEnv
from gametap.q3.v1 import world_pb2 as wpb


class WorldError(ValueError):
    """A request that names no world, or one it cannot act on now; the message says why."""


@dataclass
class World:
    name: str
    settings: dict[str, Any]
    joined: int = 0  # connections joined to it now


class Worlds:
    """The server's worlds, shared by its connections (a world's name is unique for the server's life)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._worlds: dict[str, World] = {}
        self._numbers = itertools.count(1)

    def create(self, settings: dict[str, Any]) -> World:
        with self._lock:
            world = World(f"world-{next(self._numbers)}", settings)
            self._worlds[world.name] = world
            return world

    def get(self, name: str) -> World:
        with self._lock:
            return self._named(name)

    def destroy(self, name: str) -> None:
        with self._lock:
            world = self._named(name)
            if world.joined:
                raise WorldError(f"world {name!r} has {world.joined} joined connection(s): they leave first")
            del self._worlds[name]

    def _named(self, name: str) -> World:  # with the lock held
        world = self._worlds.get(name)
        if world is None:
            raise WorldError(f"no world is named {name!r}")
        return world

    def join(self, name: str) -> World:
        """The world named so, with this connection counted as joined (in one step: a destroy
        cannot come between)."""
        with self._lock:
            world = self._named(name)
            world.joined += 1
            return world

    def leave(self, world: World) -> None:
        with self._lock:
            world.joined -= 1


@dataclass
class Step:
    features: np.ndarray
    reward: float
    frame: int
    ended: bool  # the episode ended with this step


def match_spec(settings: dict[str, Any], roster: list[str], server: str, token: str | None) -> MatchSpec:
    """roster: the game's bot names (GameDescription.bots); the world's bots take them in turn."""
    bots = tuple((roster[i % len(roster)], settings["bot_skill"], wpb.TEAM_UNSPECIFIED)
                 for i in range(settings["bots"]))
    return MatchSpec(server=server, token=token, map=settings["map"], bots=bots, frag_limit=settings["frag_limit"],
                     frames_per_step=settings["frames_per_step"], max_steps=settings["max_steps"])


@dataclass
class Session:
    """A connection joined to a world."""
    world: World
    roster: list[str]
    server: str
    token: str | None
    env: OpenArenaEnv | None = None
    playing: bool = False      # an episode is under way: the next step acts
    episodes: int = 0

    def step(self, action: dict[str, np.ndarray] | None) -> Step:
        """action: None on a step that starts an episode (its actions are ignored)."""
        if self.env is None:
            self.env = OpenArenaEnv(match_spec(self.world.settings, self.roster, self.server, self.token))
        if not self.playing:
            seed = self.world.settings["seed"] if self.episodes == 0 else None
            obs, info = self.env.reset(seed=seed)
            self.episodes += 1
            self.playing = True
            return Step(obs, 0.0, info["frame"], False)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.playing = not (terminated or truncated)
        return Step(obs, reward, info["frame"], not self.playing)

    def reset(self) -> None:
        """The next step starts a new episode (the world's settings as they are now)."""
        self.close()

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
        self.playing = False
