"""FakeWorld: the fake game's WorldCore (gametap.core.game), in Python.

What native/hotpath is for OpenArena: the game's link bytes in (split into messages, the
FRAMEs applied), and per frame a serialized WorldUpdate delta, a keyframe every
keyframe_interval frames, and their recording records. The state is kept as protobuf
messages with a version each, so that deltas (and agents' views, gametap.games.fake.observer)
carry only what changed.
"""
from __future__ import annotations

import weakref
import zlib
from types import SimpleNamespace

from gametap.games.fake import frames
from gametap.games.fake.observer import FakeObserver
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import RECORD_HEAD
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp

_PHASES = {"playing": wpb.MATCH_PHASE_PLAYING, "intermission": wpb.MATCH_PHASE_INTERMISSION}
_KNOWN_TYPES = {t.value for t in lp.MsgType}


class Versioned:
    """Messages by key, each with a version that changes whenever its serialized bytes do."""

    def __init__(self, world: FakeWorld):
        self._world = world
        self.messages: dict[int, object] = {}
        self._bytes: dict[int, bytes] = {}
        self.versions: dict[int, int] = {}

    def store(self, key: int, message) -> bool:
        """True if the message differs from the one held (a new version)."""
        raw = message.SerializeToString()
        if self._bytes.get(key) == raw:
            return False
        self.messages[key], self._bytes[key] = message, raw
        self.versions[key] = self._world.next_version()
        return True

    def drop(self, key: int) -> None:
        for table in (self.messages, self._bytes, self.versions):
            table.pop(key, None)


class _Batch:
    """Frames applied in one feed(), handed on as one FRAMES item."""

    def __init__(self):
        self.deltas: list[bytes] = []
        self.keyframes: list[tuple[int, bytes]] = []
        self.records = bytearray()
        self.reset = False


class FakeWorld:
    FRAMES = 0
    BROKEN = -1

    def __init__(self, keyframe_interval: int = 100, record: bool = True):
        self.keyframe_interval = max(1, keyframe_interval)
        self.record = record
        self.frame = 0
        self.level_time_ms = 0
        self.level_exited = False
        self.players_left = 0
        self.error: str | None = None
        self.player_table = Versioned(self)  # client -> Player
        self.entity_table = Versioned(self)  # number -> Entity
        self.match = wpb.MatchInfo()
        self.match_version = 0
        self.events: list[wpb.Event] = []  # this frame's
        self._version = 0
        self._names: dict[int, str] = {}
        self._info: dict[str, str] = {}
        self._agents: set[int] = set()
        self._in = bytearray()
        self._frames_allowed = False
        self._observers: weakref.WeakSet[FakeObserver] = weakref.WeakSet()
        self._stats = {"frames": 0, "delta_bytes": 0, "keyframes": 0, "keyframe_bytes": 0}

    def next_version(self) -> int:
        self._version += 1
        return self._version

    # ---- the link bytes ----

    @property
    def pending(self) -> int:
        return len(self._in)

    def accept_frames(self, on: bool = True) -> None:
        self._frames_allowed = on

    def feed(self, data) -> list[tuple]:
        items: list[tuple] = []
        if self.error is None:
            self._in += data
            batch: list[_Batch] = []
            try:
                self._consume(items, batch)
            except lp.LinkProtocolError as e:
                self.error = str(e)
                self._in.clear()
            self._flush(items, batch)
        if self.error is not None:
            items.append((self.BROKEN, self.error))
        return items

    def _consume(self, items: list, batch: list[_Batch]) -> None:
        """Handles whole messages until one Python must answer first (GameLink's: the handshake)."""
        buf, pos = self._in, 0
        try:
            while len(buf) - pos >= lp.HEADER.size:
                size, msg_type, reserved = lp.HEADER.unpack_from(buf, pos)
                _check_header(size, msg_type, reserved)
                if len(buf) - pos - lp.HEADER.size < size:
                    break
                payload = bytes(buf[pos + lp.HEADER.size:pos + lp.HEADER.size + size])
                pos += lp.HEADER.size + size
                if msg_type == lp.MsgType.FRAME and self._frames_allowed:
                    if not batch:
                        batch.append(_Batch())  # even if no frame applies: the level's end is news
                    self._apply(frames.decode(payload), batch[0])
                    continue
                self._flush(items, batch)
                if msg_type == lp.MsgType.WAITING and self._frames_allowed:
                    if size != lp.WAITING.size:
                        raise lp.LinkProtocolError(f"WAITING: {size} bytes, expected {lp.WAITING.size}")
                    items.append((lp.MsgType.WAITING, *lp.WAITING.unpack(payload)))
                    continue
                items.append((msg_type, payload))
                break  # Python answers it before anything else is read
        finally:
            del buf[:pos]

    def _flush(self, items: list, batch: list[_Batch]) -> None:
        if batch:
            b = batch.pop()
            items.append((self.FRAMES, b.deltas, b.keyframes, bytes(b.records), b.reset))

    # ---- applying a frame ----

    def _apply(self, f: frames.Frame, batch: _Batch) -> None:
        if self.level_exited or frames.LEVEL_EXIT_COMMAND in (c.strip() for c in f.commands):
            self.level_exited = True  # what comes after is not the match's
            return
        if f.reset:
            self._names.clear()
            self._info = {}
        self.frame, self.level_time_ms = f.frame, f.level_time_ms
        self.events = []
        match_changed = self._configstrings(f)
        delta = wpb.WorldDelta(frame=f.frame, level_time_ms=f.level_time_ms)
        if match_changed:
            delta.match.CopyFrom(self.match)
        self._players(f, delta)
        self._goal(f, delta)
        delta.events.extend(self.events)
        update = opb.WorldUpdate(delta=delta).SerializeToString()
        batch.deltas.append(update)
        batch.reset |= f.reset
        self._stats["frames"] += 1
        self._stats["delta_bytes"] += len(update)
        keyframe = self.keyframe(count=True) if f.reset or f.frame % self.keyframe_interval == 0 else None
        if keyframe is not None:
            batch.keyframes.append((len(batch.deltas) - 1, keyframe))
        if self.record:
            for payload in (update, keyframe) if keyframe is not None else (update,):
                batch.records += RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        for observer in self._observers:
            observer.collect(self.events)

    def _configstrings(self, f: frames.Frame) -> bool:
        """Names and the match info; True if the MatchInfo changed."""
        before = dict(self._info)
        for index, text in f.configstrings:
            if index == frames.CS_MATCH:
                self._info = frames.match_info(text)
            elif text:
                self._names[index - frames.CS_NAMES] = text
            else:
                self._names.pop(index - frames.CS_NAMES, None)
        if self._info == before and not f.reset:
            return False
        info, old_phase = self._info, self.match.phase
        self.match = wpb.MatchInfo(map=info.get("map", ""), game_type=wpb.GAME_TYPE_FFA,
                                   phase=_PHASES.get(info.get("phase", ""), wpb.MATCH_PHASE_PLAYING),
                                   frag_limit=int(info.get("fraglimit", 0)), time_limit_s=int(info.get("timelimit", 0)))
        self.match_version = self.next_version()
        if self.match.phase != old_phase and self.match.phase == wpb.MATCH_PHASE_INTERMISSION:
            self.events.append(wpb.Event(phase_change=wpb.PhaseChange(phase=self.match.phase,
                                                                      reason=info.get("reason", ""))))
        return True

    def _players(self, f: frames.Frame, delta: wpb.WorldDelta) -> None:
        present = {rec[0]: rec for rec in f.players}
        for client in sorted(set(self.player_table.messages) - set(present)):
            self.player_table.drop(client)
            self.players_left += 1
            delta.removed_players.append(client)
            self.events.append(wpb.Event(leave=wpb.PlayerLeave(client=client)))
        for client in sorted(present):
            if client not in self.player_table.messages:
                self.events.append(wpb.Event(join=wpb.PlayerJoin(client=client)))
            if self.player_table.store(client, self._player(present[client])):
                delta.players.append(self.player_table.messages[client])

    def _player(self, rec: tuple) -> wpb.Player:
        client, _reserved, x, y, vx, vy, yaw, pitch, score, skill = rec
        controller = wpb.CONTROLLER_AGENT if client in self._agents else wpb.CONTROLLER_BOT
        return wpb.Player(client=client, name=self._names.get(client, ""), team=wpb.TEAM_FREE, controller=controller,
                          origin=wpb.Vec3(x=x, y=y), velocity=wpb.Vec3(x=vx, y=vy),
                          view_angles=wpb.Vec3(x=pitch, y=yaw), health=100, weapon=wpb.WEAPON_GAUNTLET,
                          weapons_owned=1 << wpb.WEAPON_GAUNTLET, score=score, alive=True, skill=skill, on_ground=True)

    def _goal(self, f: frames.Frame, delta: wpb.WorldDelta) -> None:
        number = frames.GOAL_ENTITY
        if f.goal is None:
            if number in self.entity_table.messages:
                self.entity_table.drop(number)
                delta.removed_entities.append(number)
            return
        goal = wpb.Entity(number=number, type=wpb.ENTITY_TYPE_ITEM, origin=wpb.Vec3(x=f.goal[0], y=f.goal[1]),
                          item="goal", item_type=wpb.ITEM_TYPE_POWERUP, owner=-1)
        if self.entity_table.store(number, goal):
            delta.entities.append(goal)

    # ---- the state ----

    def state_message(self) -> wpb.WorldState:
        return wpb.WorldState(frame=self.frame, level_time_ms=self.level_time_ms, match=self.match,
                              players=[self.player_table.messages[c] for c in sorted(self.player_table.messages)],
                              entities=[self.entity_table.messages[n] for n in sorted(self.entity_table.messages)],
                              events=self.events)

    def state(self) -> bytes:
        return self.state_message().SerializeToString()

    def keyframe(self, count: bool = False) -> bytes:
        raw = opb.WorldUpdate(keyframe=self.state_message()).SerializeToString()
        if count:
            self._stats["keyframes"] += 1
            self._stats["keyframe_bytes"] += len(raw)
        return raw

    def snapshot(self) -> SimpleNamespace:
        """players and entities by number, as gametap.client.features reads a world."""
        return SimpleNamespace(players=self.player_table.messages, entities=self.entity_table.messages)

    def players(self) -> list[tuple[int, str, bool]]:
        # every player is a bot to the game: agents' players are bots it lets agents drive
        return [(c, p.name, True) for c, p in sorted(self.player_table.messages.items())]

    def has_player(self, client: int) -> bool:
        return client in self.player_table.messages

    def set_agent(self, client: int, driven: bool) -> None:
        if not 0 <= client < 64:
            raise ValueError(f"client {client} is outside 0..63")
        (self._agents.add if driven else self._agents.discard)(client)

    def observer(self, frames_per_step: int, structured: bool = True, features: bool = False) -> FakeObserver:
        observer = FakeObserver(self, frames_per_step, structured, features)
        self._observers.add(observer)
        return observer

    def stats(self) -> dict:
        return dict(self._stats)


def _check_header(size: int, msg_type: int, reserved: int) -> None:
    if size > lp.MAX_PAYLOAD:
        raise lp.LinkProtocolError(f"message of {size} bytes exceeds the {lp.MAX_PAYLOAD}-byte limit")
    if msg_type not in _KNOWN_TYPES:
        raise lp.LinkProtocolError(f"unknown message type {msg_type}")
    if reserved:
        raise lp.LinkProtocolError(f"{lp.MsgType(msg_type).name}: reserved header field is {reserved}, not 0")
