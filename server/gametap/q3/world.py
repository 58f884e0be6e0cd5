"""WorldBuilder: the game's raw frames -> serialized WorldUpdates (a delta per frame, keyframes).

State is kept as serialized messages (one per player, entity and the match
info); a delta is assembled from the parts that changed, a keyframe from all of
them (see gametap.wire). A record whose serialized form did not change is not
sent again, so a delta holds exactly what an observer could see change.
"""
from __future__ import annotations

from dataclasses import dataclass

from gametap import wire
from gametap.link.protocol import FrameFlags, RawFrame
from gametap.q3 import abi, game_text
from gametap.q3.decode import PlayerInfo, PlayerRow, entity_bytes, entity_rows, player_bytes, player_rows
from gametap.q3.v1 import world_pb2 as pb

_MATCH_CONFIGSTRINGS = frozenset({
    abi.CS_SERVERINFO, abi.CS_WARMUP, abi.CS_SCORES1, abi.CS_SCORES2,
    abi.CS_LEVEL_START_TIME, abi.CS_INTERMISSION,
})


def encode_state(frame: int, level_time_ms: int, match: bytes, players, entities, events) -> bytes:
    """A serialized WorldState from serialized parts (players/entities in the order given)."""
    parts = [wire.varint_field(1, frame), wire.varint_field(2, level_time_ms)]
    if match:
        parts.append(wire.bytes_field(3, match))
    parts += [wire.bytes_field(4, b) for b in players]
    parts += [wire.bytes_field(5, b) for b in entities]
    parts += [wire.bytes_field(6, e) for e in events]
    return b"".join(parts)


def encode_delta(frame: int, level_time_ms: int, match: bytes | None, players, entities,
                 removed_players, removed_entities, events, base_frame: int = 0) -> bytes:
    """A serialized WorldDelta from serialized parts; match None = unchanged."""
    parts = [wire.varint_field(1, frame), wire.varint_field(2, level_time_ms)]
    if match is not None:
        parts.append(wire.bytes_field(3, match))
    parts += [wire.bytes_field(4, b) for b in players]
    parts += [wire.bytes_field(5, b) for b in entities]
    parts.append(wire.packed_varints(6, removed_players))
    parts.append(wire.packed_varints(7, removed_entities))
    parts += [wire.bytes_field(8, e) for e in events]
    parts.append(wire.varint_field(9, base_frame))
    return b"".join(parts)


def keyframe_update(state: bytes) -> bytes:
    """WorldUpdate{keyframe} (field 1)."""
    return wire.bytes_field(1, state)


def delta_update(delta: bytes) -> bytes:
    """WorldUpdate{delta} (field 2)."""
    return wire.bytes_field(2, delta)


@dataclass(slots=True)
class Update:
    frame: int
    delta: bytes            # serialized WorldUpdate{delta}
    keyframe: bytes | None  # serialized WorldUpdate{keyframe} when this frame has one
    events: list[bytes]     # this frame's serialized events


@dataclass(slots=True)
class BuilderStats:
    frames: int = 0
    delta_bytes: int = 0
    keyframes: int = 0
    keyframe_bytes: int = 0


class WorldBuilder:
    def __init__(self, keyframe_interval: int = 100, controllers: dict[int, int] | None = None):
        self.keyframe_interval = max(1, keyframe_interval)
        # client -> Controller for slots the daemon drives (agents); others are bot or human.
        self.controllers = controllers if controllers is not None else {}
        self.frame = 0
        self.level_time_ms = 0
        self.phase = pb.MATCH_PHASE_UNSPECIFIED
        # The game ended the level (its limits were hit): the match is over, and the
        # frame that did it (which zeroes the scores for a next level) is not applied.
        self.level_exited = False
        self.stats = BuilderStats()
        self._cs: dict[int, str] = {}
        self._info: dict[int, PlayerInfo] = {}
        self._rows: dict[int, PlayerRow] = {}
        self._players: dict[int, bytes] = {}
        self._entities: dict[int, bytes] = {}
        self._match = b""
        self._events: list[bytes] = []
        self._lines = game_text.LineSplitter()
        self._exit_reason = ""  # from the "Exit:" line, which precedes intermission by a second
        self._restamp: set[int] = set()  # players to rebuild next frame (their controller changed)

    # ---- reading ----

    @property
    def configstrings(self) -> dict[int, str]:
        return self._cs

    # Serialized parts of the current state (read-only views for agents' observations).
    @property
    def players(self) -> dict[int, bytes]:
        return self._players

    @property
    def entities(self) -> dict[int, bytes]:
        return self._entities

    @property
    def match_bytes(self) -> bytes:
        return self._match

    @property
    def events(self) -> list[bytes]:
        """This frame's events."""
        return self._events

    def player_row(self, client: int) -> PlayerRow | None:
        return self._rows.get(client)

    def player_info(self, client: int) -> PlayerInfo | None:
        return self._info.get(client)

    def set_controller(self, client: int, controller: int | None) -> None:
        """Who drives a slot (None: the game says, bot or human); shows from the next frame."""
        if controller is None:
            self.controllers.pop(client, None)
        else:
            self.controllers[client] = controller
        self._restamp.add(client)

    def state_bytes(self) -> bytes:
        """The current WorldState, serialized."""
        return encode_state(self.frame, self.level_time_ms, self._match,
                            [self._players[c] for c in sorted(self._players)],
                            [self._entities[n] for n in sorted(self._entities)], self._events)

    def keyframe_update(self) -> bytes:
        """A WorldUpdate holding the current state as a keyframe."""
        state = self.state_bytes()
        self.stats.keyframes += 1
        self.stats.keyframe_bytes += len(state)
        return keyframe_update(state)

    # ---- applying frames ----

    def apply(self, frames: list[RawFrame]) -> list[Update]:
        """Applies consecutive frames; decodes all their records in one batch."""
        for i, f in enumerate(frames):
            if self.level_exited or game_text.is_level_exit(f.commands):
                self.level_exited = True
                frames = frames[:i]
                break
        prows = player_rows(b"".join(f.players for f in frames))
        erows = entity_rows(b"".join(f.entities for f in frames))
        out, pi, ei = [], 0, 0
        for f in frames:
            np_, ne = f.n_players, f.n_entities
            out.append(self._apply_frame(f, prows[pi:pi + np_], erows[ei:ei + ne]))
            pi += np_
            ei += ne
        return out

    def _apply_frame(self, f: RawFrame, prows: list[PlayerRow], erows) -> Update:
        reset = bool(f.flags & FrameFlags.RESET)
        old_players = set(self._players) if reset else ()
        old_entities = set(self._entities) if reset else None
        if reset:
            self._cs.clear()
            self._info.clear()
            self._rows.clear()
        self.frame, self.level_time_ms = f.frame, f.level_time_ms
        events: list[pb.Event] = []
        touched, match_dirty = self._apply_configstrings(f.configstrings) if f.configstrings else (set(), False)
        rows = self._rows
        for row in prows:
            rows[row.client] = row
            touched.add(row.client)
        if reset:
            touched.update(old_players)
        if self._restamp:
            touched.update(self._restamp)
            self._restamp.clear()
        players, removed_players = self._update_players(sorted(touched), events)
        entities, removed_entities = self._update_entities(erows, old_entities)
        if f.log:
            self._log_events(f.log, events)
        match = self._update_match(reset or match_dirty, events)

        self._events = [e.SerializeToString() for e in events] if events else []
        delta = encode_delta(self.frame, self.level_time_ms, match, players, entities,
                             removed_players, removed_entities, self._events)
        self.stats.frames += 1
        self.stats.delta_bytes += len(delta)
        keyframe = None
        if reset or self.frame % self.keyframe_interval == 0:
            keyframe = self.keyframe_update()
        return Update(self.frame, delta_update(delta), keyframe, self._events)

    def _apply_configstrings(self, changes) -> tuple[set[int], bool]:
        touched, match_dirty = set(), False
        for index, text in changes:
            if text:
                self._cs[index] = text
            else:
                self._cs.pop(index, None)
            client = index - abi.CS_PLAYERS
            if 0 <= client < abi.MAX_CLIENTS:
                touched.add(client)
                info = game_text.player_info(text)
                if info is None:
                    self._info.pop(client, None)
                else:
                    self._info[client] = info
            elif index in _MATCH_CONFIGSTRINGS:
                match_dirty = True
        return touched, match_dirty

    def _update_players(self, clients, events) -> tuple[list[bytes], list[int]]:
        changed, removed = [], []
        for c in clients:
            info, row = self._info.get(c), self._rows.get(c)
            if info is None or row is None:
                if self._players.pop(c, None) is not None:
                    removed.append(c)
                    events.append(pb.Event(leave=pb.PlayerLeave(client=c)))
                continue
            b = player_bytes(row, info, self.controllers.get(c))
            previous = self._players.get(c)
            if previous != b:
                if previous is None:
                    events.append(pb.Event(join=pb.PlayerJoin(client=c)))
                self._players[c] = b
                changed.append(b)
        return changed, removed

    def _update_entities(self, rows, old: set[int] | None) -> tuple[list[bytes], list[int]]:
        changed, removed = [], []
        for row in rows:
            n = row.number
            if old is not None:
                old.discard(n)
            if not row.linked:
                if self._entities.pop(n, None) is not None:
                    removed.append(n)
                continue
            b = entity_bytes(row, self._cs)
            if self._entities.get(n) != b:
                self._entities[n] = b
                changed.append(b)
        for n in sorted(old or ()):  # after a reset: whatever the game did not send again is gone
            del self._entities[n]
            removed.append(n)
        return changed, removed

    def _log_events(self, text: str, events: list[pb.Event]) -> None:
        by_name = None
        for line in self._lines.feed(text):
            if line.startswith(("say", "Kill:", "Item:")):
                if by_name is None:
                    by_name = {info.name: c for c, info in self._info.items()}
                if (event := game_text.event_from_line(line, by_name)) is not None:
                    events.append(event)
            elif (reason := game_text.exit_reason(line)) is not None:
                self._exit_reason = reason

    def _update_match(self, dirty: bool, events) -> bytes | None:
        """The new serialized MatchInfo if it changed this frame, else None."""
        if not dirty and self.phase != pb.MATCH_PHASE_WARMUP:
            return None
        info = game_text.match_info(self._cs, self.level_time_ms)
        if info.phase != self.phase:
            self.phase = info.phase
            reason = self._exit_reason if info.phase == pb.MATCH_PHASE_INTERMISSION else ""
            events.append(pb.Event(phase_change=pb.PhaseChange(phase=info.phase, reason=reason)))
        b = info.SerializeToString()
        if b == self._match:
            return None
        self._match = b
        return b
