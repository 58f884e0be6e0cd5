"""The fake game's world: players on a square plane who run for a goal.

A seeded RNG places the players as they join and the goal; a player within GOAL_RADIUS of
the goal scores a point and the goal moves. A bot steers straight for it; a player an agent
drives moves as its last action says (forward, strafe, view angles). The level ends when a
score reaches the frag limit or the level time the time limit. No floating point depends on
anything but the config, the seed and the actions: the same inputs give the same frames.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from gametap.games.fake import frames
from gametap.worker.link.protocol import FrameFlags

ARENA = 1000.0       # the plane is -ARENA..ARENA in x and y
SPEED = 320.0        # units per second at full speed (OpenArena's run speed)
GOAL_RADIUS = 48.0
MAX_PLAYERS = 64
INTERMISSION_FRAMES = 3  # frames between a limit ending the play and the game ending the level
PLAYING, INTERMISSION = "playing", "intermission"


@dataclass
class Drive:
    """An agent's command, held until the next one."""
    forward: float  # -1..1
    right: float    # -1..1
    yaw: float      # degrees
    pitch: float


@dataclass
class Body:
    client: int
    name: str
    skill: int
    x: float
    y: float
    yaw: float = 0.0
    pitch: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    score: int = 0
    drive: Drive | None = None  # None: the bot AI steers

    def record(self) -> tuple:
        return (self.client, 0, self.x, self.y, self.vx, self.vy, self.yaw, self.pitch, self.score, self.skill)


class Plane:
    def __init__(self, seed: int, server_fps: int, frag_limit: int = 0, time_limit_s: int = 0, map_name: str = ""):
        self.rng = random.Random(seed)
        self.frame_ms = max(1, 1000 // server_fps)
        self.frag_limit, self.time_limit_s = frag_limit, time_limit_s
        self.bodies: dict[int, Body] = {}
        self.goal = self._spot()
        self.frame = 0
        self.exited = False
        self.intermission_at = 0  # the frame a limit was hit (0: none yet)
        self.info = {"map": map_name, "fraglimit": frag_limit, "timelimit": time_limit_s, "phase": PLAYING}
        self._configstrings: dict[int, str] = {}  # changed since the last frame

    def _spot(self) -> tuple[float, float]:
        return self.rng.uniform(-ARENA, ARENA), self.rng.uniform(-ARENA, ARENA)

    # ---- players ----

    def add(self, name: str, skill: int) -> int | None:
        """The new player's client number (the lowest free one); None when the game is full."""
        client = next((c for c in range(MAX_PLAYERS) if c not in self.bodies), None)
        if client is not None:
            x, y = self._spot()
            self.bodies[client] = Body(client, name, skill, x, y, yaw=self.rng.uniform(-180.0, 180.0))
            self._configstrings[frames.CS_NAMES + client] = name
        return client

    def remove(self, client: int) -> bool:
        body = self.bodies.pop(client, None)
        if body is not None:
            self._configstrings[frames.CS_NAMES + client] = ""
        return body is not None

    def drive(self, client: int, drive: Drive | None) -> None:
        """An agent's command for the player (None: back to its bot AI)."""
        if client in self.bodies:
            self.bodies[client].drive = drive

    def set_limits(self, frag_limit: int | None = None, time_limit_s: int | None = None) -> None:
        """New limits (the console's fraglimit and timelimit), from the next frame."""
        self.frag_limit = self.frag_limit if frag_limit is None else frag_limit
        self.time_limit_s = self.time_limit_s if time_limit_s is None else time_limit_s
        self.info.update(fraglimit=self.frag_limit, timelimit=self.time_limit_s)
        self._configstrings[frames.CS_MATCH] = frames.match_text(self.info)

    # ---- frames ----

    def step(self) -> frames.Frame:
        """Runs the next frame; returns what the game sends of it."""
        self.frame += 1
        level_time = self.frame * self.frame_ms
        commands = []
        if not self.intermission_at:
            for client in sorted(self.bodies):
                self._move(self.bodies[client])
            self._score()
            reason = self._limit_hit(level_time)
            if reason:  # scores are final; the level ends a few frames later, as OpenArena's does
                self.intermission_at = self.frame
                self.info.update(phase=INTERMISSION, reason=reason)
                self._configstrings[frames.CS_MATCH] = frames.match_text(self.info)
        elif not self.exited and self.frame >= self.intermission_at + INTERMISSION_FRAMES:
            self.exited = True
            commands.append(frames.LEVEL_EXIT_COMMAND)
        first = self.frame == 1
        configstrings = self._all_configstrings() if first else sorted(self._configstrings.items())
        self._configstrings.clear()
        return frames.Frame(self.frame, level_time, FrameFlags.CAPTURED | (FrameFlags.RESET if first else 0),
                            players=[self.bodies[c].record() for c in sorted(self.bodies)], goal=self.goal,
                            configstrings=configstrings, commands=commands)

    def _move(self, b: Body) -> None:
        if b.drive is None:  # the bot AI: straight for the goal, faster with skill
            b.yaw = math.degrees(math.atan2(self.goal[1] - b.y, self.goal[0] - b.x))
            b.pitch, forward, right = 0.0, 0.5 + b.skill / 10, 0.0
        else:
            b.yaw, b.pitch, forward, right = b.drive.yaw, b.drive.pitch, b.drive.forward, b.drive.right
        norm = math.hypot(forward, right)
        if norm > 1.0:
            forward, right = forward / norm, right / norm
        yaw = math.radians(b.yaw)
        # right of the view: (sin yaw, -cos yaw), as OpenArena's AngleVectors
        b.vx = SPEED * (forward * math.cos(yaw) + right * math.sin(yaw))
        b.vy = SPEED * (forward * math.sin(yaw) - right * math.cos(yaw))
        dt = self.frame_ms / 1000
        b.x = min(ARENA, max(-ARENA, b.x + b.vx * dt))
        b.y = min(ARENA, max(-ARENA, b.y + b.vy * dt))

    def _score(self) -> None:
        for client in sorted(self.bodies):
            b = self.bodies[client]
            if math.hypot(b.x - self.goal[0], b.y - self.goal[1]) <= GOAL_RADIUS:
                b.score += 1
                self.goal = self._spot()
                return  # one point a frame: the goal has moved

    def _limit_hit(self, level_time: int) -> str:
        """Why the play ends now ("": it goes on), in OpenArena's words."""
        if self.frag_limit and any(b.score >= self.frag_limit for b in self.bodies.values()):
            return "Fraglimit hit."
        if self.time_limit_s and level_time >= self.time_limit_s * 1000:
            return "Timelimit hit."
        return ""

    def _all_configstrings(self) -> list[tuple[int, str]]:
        names = [(frames.CS_NAMES + c, self.bodies[c].name) for c in sorted(self.bodies)]
        return [(frames.CS_MATCH, frames.match_text(self.info)), *names]
