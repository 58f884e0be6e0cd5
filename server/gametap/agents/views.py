"""What an agent stream observes: the whole world, or what one slot's player can see.

A view turns the match's current state into one serialized WorldUpdate per
observation: a keyframe the first time, then a delta from the previous
observation (base_frame). FULL views observed every frame reuse the match's own
per-frame delta.
"""
from __future__ import annotations

from gametap.q3.world import Update, WorldBuilder, delta_update, encode_delta, encode_state, keyframe_update


class FrameDeltaView:
    """The whole world, every frame: the match's per-frame deltas as they are."""

    def __init__(self) -> None:
        self.frame: int | None = None

    def add_events(self, events: list[bytes]) -> None:
        pass  # the per-frame deltas carry them

    def observe(self, builder: WorldBuilder, last: Update | None, visible=None) -> bytes:
        consecutive = self.frame is not None and self.frame == builder.frame - 1
        self.frame = builder.frame
        if consecutive and last is not None and last.frame == builder.frame:
            return last.delta
        return keyframe_update(builder.state_bytes())


class SpanView:
    """A view observed every k frames, or limited to a visible set: one delta per observation."""

    def __init__(self) -> None:
        self.frame: int | None = None
        self._players: dict[int, bytes] = {}
        self._entities: dict[int, bytes] = {}
        self._match = b""
        self._events: list[bytes] = []

    def add_events(self, events: list[bytes]) -> None:
        """Called with every frame's events (the observed frame's too, before observe),
        so none is lost between observations."""
        if self.frame is not None:
            self._events += events

    def observe(self, builder: WorldBuilder, last: Update | None = None, visible: set[int] | None = None) -> bytes:
        players, entities = builder.players, builder.entities
        if visible is not None:
            players = {c: b for c, b in players.items() if c in visible}
            entities = {n: b for n, b in entities.items() if n in visible}
        if self.frame is None:
            update = keyframe_update(encode_state(
                builder.frame, builder.level_time_ms, builder.match_bytes,
                [players[c] for c in sorted(players)], [entities[n] for n in sorted(entities)], builder.events))
        else:
            match = builder.match_bytes if builder.match_bytes != self._match else None
            update = delta_update(encode_delta(
                builder.frame, builder.level_time_ms, match,
                [b for c, b in sorted(players.items()) if self._players.get(c) is not b],
                [b for n, b in sorted(entities.items()) if self._entities.get(n) is not b],
                sorted(self._players.keys() - players.keys()), sorted(self._entities.keys() - entities.keys()),
                self._events, base_frame=self.frame))
        self.frame = builder.frame
        self._players, self._entities, self._match = dict(players), dict(entities), builder.match_bytes
        self._events = []
        return update
