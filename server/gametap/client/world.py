"""World: a match's state, kept current by applying WorldUpdates (keyframe, then deltas)."""
from __future__ import annotations

from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import observe_pb2 as opb


class WorldError(Exception):
    """An update that does not follow from the current state (a gap, or a delta before any keyframe)."""


class World:
    """A match's state, built by apply() from a Watch stream's or an observation's updates.

    Attributes:
        frame: The frame of the last update applied.
        level_time_ms: The game's level time at that frame.
        match: The MatchInfo (map, phase, limits, team scores) as last sent.
        players: client number -> Player.
        entities: entity number -> Entity.
        events: The last update's events only (each update replaces them).
        has_state: A keyframe has been applied.
    """

    def __init__(self) -> None:
        """An empty world; it has no state until a keyframe is applied."""
        self.frame = 0
        self.level_time_ms = 0
        self.match = wpb.MatchInfo()
        self.players: dict[int, wpb.Player] = {}
        self.entities: dict[int, wpb.Entity] = {}
        self.events: list[wpb.Event] = []
        self.has_state = False

    def apply(self, update: opb.WorldUpdate) -> None:
        """Applies one update: a keyframe replaces the whole state; a delta changes it.

        Args:
            update: A keyframe, or a delta whose base_frame (0: frame - 1) is this world's frame.

        Raises:
            WorldError: The update carries neither; a delta came before any keyframe, or applies
                to another frame (a gap: apply a keyframe to resync). The world is unchanged then.
        """
        kind = update.WhichOneof("update")
        if kind == "keyframe":
            self._keyframe(update.keyframe)
        elif kind == "delta":
            self._delta(update.delta)
        else:
            raise WorldError("update carries neither a keyframe nor a delta")

    def _keyframe(self, s: wpb.WorldState) -> None:
        self.frame, self.level_time_ms = s.frame, s.level_time_ms
        self.match = s.match
        self.players = {p.client: p for p in s.players}
        self.entities = {e.number: e for e in s.entities}
        self.events = list(s.events)
        self.has_state = True

    def _delta(self, d: wpb.WorldDelta) -> None:
        if not self.has_state:
            raise WorldError(f"delta for frame {d.frame} before any keyframe")
        base = d.base_frame or d.frame - 1
        if base != self.frame:
            raise WorldError(f"delta for frame {d.frame} applies to frame {base}, not to frame {self.frame}")
        self.frame, self.level_time_ms = d.frame, d.level_time_ms
        if d.HasField("match"):
            self.match = d.match
        for c in d.removed_players:
            self.players.pop(c, None)
        for n in d.removed_entities:
            self.entities.pop(n, None)
        for p in d.players:
            self.players[p.client] = p
        for e in d.entities:
            self.entities[e.number] = e
        self.events = list(d.events)

    def state(self) -> wpb.WorldState:
        """The current state as a WorldState (players by client, entities by number).

        Returns:
            A new WorldState that shares the Player and Entity messages with this world (copy
            them before changing them).
        """
        return wpb.WorldState(
            frame=self.frame, level_time_ms=self.level_time_ms, match=self.match,
            players=[self.players[c] for c in sorted(self.players)],
            entities=[self.entities[n] for n in sorted(self.entities)],
            events=self.events,
        )
