"""The game boundary: everything the generic daemon needs from a game, in one interface.

The generic core (workers, the match lifecycle, the link handshake, hub, recording, the
agents' lockstep gate, the RPC and HTTP layers) talks to a game only through `Game` and
the `WorldCore` it makes. Not all of it is game-free yet: the modules and protos that still
import a game are listed in tests/unit/test_game_boundary.py, a list that may only shrink.
gametap.q3 implements both for OpenArena (its C hot path is the WorldCore), and
gametap.games.fake for the core's fast tests. Another game is a package that implements them
and a line in `GAMES`.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

# Game name -> "module:class" (imported when first used).
GAMES = {"openarena": "gametap.q3.game:OpenArena", "fake": "gametap.games.fake.game:FakeGame"}


class Observer(Protocol):
    """One agent stream's views of a WorldCore: observations out, actions in."""

    def set_slots(self, slots: Sequence[tuple[int, bool]]) -> None: ...  # [(client, pvs)], client -1: not in yet
    def observe(self, final: bool, game_us: int, left: Sequence[int]) -> bytes: ...  # PlayResponse{observation}
    def actions(self, batch: bytes) -> tuple[int, bytes]: ...  # ActionBatch -> (frame, CONTROL records)
    def action_rows(self, rows: bytes) -> bytes: ...  # flat float32 rows (ACTION_ROW_SIZE per slot) -> CONTROL records
    def hold_records(self) -> bytes: ...  # CONTROL records that hold every slot still
    def resync(self) -> None: ...


class WorldCore(Protocol):
    """A match's hot path: the game's link bytes in, serialized WorldUpdates out.

    feed(data) returns the messages in order: (FRAMES, deltas, keyframes, records, reset)
    for consecutive frames (keyframes: [(index into deltas, WorldUpdate bytes)], records:
    the recording's records of them); (WAITING, frame, busy_us); (type, payload) for any
    other link message, after which it stops (feed(b"") goes on); (BROKEN, reason) once
    the bytes break the link protocol.
    """

    FRAMES: int  # the item kinds of feed()
    BROKEN: int
    frame: int
    level_time_ms: int
    level_exited: bool  # the game's own limits ended the level; no later frame is applied
    players_left: int  # players that have left the game so far
    pending: int  # bytes of an incomplete message held back (the link closing then is an error)

    def feed(self, data: bytes) -> list[tuple]: ...
    def accept_frames(self, on: bool = True) -> None: ...  # FRAME and WAITING are applied (off: handed on)
    def state(self) -> bytes: ...  # the current WorldState
    def keyframe(self) -> bytes: ...  # the current state as a WorldUpdate{keyframe}
    def players(self) -> list[tuple[int, str, bool]]: ...  # (client, name, is_bot) of players in the game
    def has_player(self, client: int) -> bool: ...
    def set_agent(self, client: int, driven: bool) -> None: ...  # shows as driven by an agent from the next frame
    def observer(self, frames_per_step: int, structured: bool = True, features: bool = False) -> Observer: ...
    def stats(self) -> dict: ...


@dataclass
class Slot:
    """One agent slot a join asked for; `client` is known once its player is in the game."""
    name: str
    pvs: bool
    addbot_command: str  # the console command that adds its player
    client: int = -1


class Game(ABC):
    """One game as the daemon hosts it."""

    name: str
    max_players: int
    max_bot_players: int  # players the game's own bot code can drive (bots and agents' slots)
    feature_size: int  # float32 values of one slot's feature tensor (FEATURES observations)

    @abstractmethod
    def problems(self) -> list[str]:
        """What is missing to run this game on this machine (empty: ready)."""

    @abstractmethod
    def describe(self) -> mpb.GameDescription:
        """The maps, bots and player limits a MatchConfig can choose from."""

    @abstractmethod
    def validate_config(self, config: mpb.MatchConfig) -> mpb.MatchConfig:
        """A copy with defaults filled in; raises InvalidArgument naming the bad field."""

    @abstractmethod
    def command_line(self, config: mpb.MatchConfig, home: Path, hostname: str, udp_port: int | None,
                     bind_ip: str, client_timeout_s: int) -> list[str]:
        """The game server's argv for a validated config (and any file it reads at start,
        written under home); a human client silent for client_timeout_s is dropped."""

    @property
    @abstractmethod
    def library(self) -> Path | None:
        """The native library preloaded into the game process (None: none; the process speaks the link itself)."""

    @abstractmethod
    def check_module(self, fields: dict) -> str | None:
        """None to accept the game module the library reports (MODULE), or the reason to refuse it."""

    @abstractmethod
    def new_world(self, config: mpb.MatchConfig, record: bool) -> WorldCore:
        """The hot path for one match."""

    @abstractmethod
    def map_start_commands(self) -> Sequence[str]:
        """Console commands to run after every map load."""

    @abstractmethod
    def validate_join(self, request: apb.JoinRequest, config: mpb.MatchConfig) -> list[Slot]:
        """The slots a join asks for; raises InvalidArgument naming the bad field."""

    @abstractmethod
    def kick_command(self, client: int) -> str:
        """The console command that removes a player."""

    def map_geometry(self, name: str) -> dict | None:
        """A map's top-down drawing for the viewer (None: no such map)."""
        return None

    @abstractmethod
    def scores(self, state: bytes) -> list[tuple[int, str, int]]:
        """(client, name, score) of the players in a serialized WorldState."""

    def provenance(self, config: mpb.MatchConfig) -> dict:
        """The game's facts for a recording's header (gametap.recordings.provenance): what it loads for this
        config and checksums of it. Blocking file reads: run it off the event loop."""
        return {"game": self.name}

    def hot_path_timings(self) -> dict[str, tuple[int, float]]:
        """{stage: (calls, seconds)} the hot path spent in this process (for /metrics)."""
        return {}


def load(name: str, **options) -> Game:
    """The Game called `name`, made with its options (from the daemon's settings)."""
    target = GAMES.get(name)
    if target is None:
        raise ValueError(f"unknown game {name!r}; known: {', '.join(sorted(GAMES))}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
