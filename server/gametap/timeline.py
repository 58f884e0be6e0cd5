"""A recorded match's timeline, for the viewer: its frames, every event, the kills, and
each player's score over time. Built by reading the recording once and then only what was
appended since (a running match's recording grows), so polling it stays cheap.
"""
from __future__ import annotations

import threading
from pathlib import Path

from google.protobuf import json_format

from gametap.client.world import World
from gametap.recording import MAGIC, UPDATE_KINDS, entry_kind, records_from
from gametap.v1 import observe_pb2 as opb

SCORE_EVERY = 20  # frames between score samples (1 s of game time at the default sv_fps)


class Timeline:
    EMPTY = {"first_frame": 0, "last_frame": 0, "kills": [], "events": [], "score_frames": [], "players": []}

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0  # where the next unread record starts (0: the header is not read yet)
        self._world = World()
        self._first: bytes | None = None  # the first delta, until the keyframe after it
        self._lock = threading.Lock()     # one reader at a time (it runs in worker threads)
        self.first_frame = self.last_frame = 0
        self.events: list[dict] = []      # {frame, time_ms, event}; the event as the viewer decodes it
        self.kills: list[int] = []        # frames with a kill
        self.score_frames: list[int] = []
        self.scores: dict[int, list[int | None]] = {}  # client -> score at each score frame (None: absent)
        self.names: dict[int, str] = {}

    def update(self) -> Timeline:
        """Reads what the recording gained since the last call (blocking)."""
        with self._lock, open(self.path, "rb") as f:
            if not self._offset:
                magic = f.read(len(MAGIC))
                if len(magic) < len(MAGIC):
                    return self  # a match that just started: nothing of its recording is written yet
                if magic[:7] != MAGIC[:7]:
                    raise ValueError(f"{self.path} is not a gametap recording")
                header = next(records_from(f, len(MAGIC)), None)
                if header is None:
                    return self
                self._offset = header[1]
            for payload, end in records_from(f, self._offset):
                self._offset = end
                if entry_kind(payload) in UPDATE_KINDS:
                    self._take(opb.WorldUpdate.FromString(payload), payload)
        return self

    def _take(self, update: opb.WorldUpdate, payload: bytes) -> None:
        world = self._world
        if not world.has_state:  # the first delta, then the first keyframe (of the same frame)
            if update.HasField("delta"):
                self._first = payload
                return
            world.apply(update)
            self.first_frame = world.frame
            if self._first is not None:
                self._note(opb.WorldUpdate.FromString(self._first).delta.events)
            self._sample()
            return
        if not update.HasField("delta"):
            return  # later keyframes repeat what the deltas built
        world.apply(update)
        self._note(update.delta.events)
        if world.frame - self.score_frames[-1] >= SCORE_EVERY:
            self._sample()
        self.last_frame = world.frame

    def _note(self, events) -> None:
        w = self._world
        self.last_frame = w.frame
        for e in events:
            self.events.append({"frame": w.frame, "time_ms": w.level_time_ms,
                                "event": json_format.MessageToDict(  # as the viewer's protobuf decoding names things
                                    e, preserving_proto_field_name=True, use_integers_for_enums=True,
                                    always_print_fields_with_no_presence=True)})
            if e.HasField("kill"):
                self.kills.append(w.frame)

    def _sample(self) -> None:
        w = self._world
        n = len(self.score_frames)
        self.score_frames.append(w.frame)
        for client, p in w.players.items():
            self.names[client] = p.name
            self.scores.setdefault(client, [None] * n).append(p.score)
        for series in self.scores.values():
            if len(series) == n:
                series.append(None)

    def to_json(self) -> dict:
        return {"first_frame": self.first_frame, "last_frame": self.last_frame, "kills": self.kills,
                "events": self.events, "score_frames": self.score_frames,
                "players": [{"client": c, "name": self.names.get(c, f"#{c}"), "scores": s}
                            for c, s in sorted(self.scores.items())]}
