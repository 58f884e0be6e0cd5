"""A recorded match's timeline, for the viewer: its frames, every event, the kills, and
each player's score over time. Built by reading the recording once and then only what was
appended since (a running match's recording grows), so polling it stays cheap.

A damaged recording's timeline stops at the damage, and its `problem` says what and where: the
recorded updates (/api/matches/ID/updates) go to the same frame and answer the same problem
past it.
"""
from __future__ import annotations

import threading
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from gametap.client.world import WorldError
from gametap.recordings.recording import MAGIC, UPDATE_KINDS, RecordingError, check_magic, entry_kind, read_records
from gametap.recordings.replay import FrameStepper

SCORE_EVERY = 20  # frames between score samples (1 s of game time at the default sv_fps)


class Timeline:
    EMPTY = {"first_frame": 0, "last_frame": 0, "kills": [], "events": [], "score_frames": [], "players": [],
             "problem": ""}

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0  # where the next unread record starts (0: the header is not read yet)
        self._records = 0  # records read, the header included
        self._frames = FrameStepper()
        self._lock = threading.Lock()     # one reader at a time (it runs in worker threads)
        self.first_frame = self.last_frame = 0
        self.events: list[dict] = []      # {frame, time_ms, event}; the event as the viewer decodes it
        self.kills: list[int] = []        # frames with a kill
        self.score_frames: list[int] = []
        self.scores: dict[int, list[int | None]] = {}  # client -> score at each score frame (None: absent)
        self.names: dict[int, str] = {}
        self.problem = ""                 # what stops the reading, and where ("" while nothing does)

    def update(self, ended: bool = False) -> Timeline:
        """Reads what the recording gained since the last call (blocking). ended: its match has
        ended, so a header not written by now never will be."""
        with self._lock, open(self.path, "rb") as f:
            if self.problem:
                return self
            try:
                self._read(f, ended)
            except RecordingError as e:
                self.problem = str(e)
            except (DecodeError, WorldError) as e:
                self.problem = f"record {self._records} at byte {self._offset} does not replay ({e})"
        return self

    def _read(self, f, ended: bool) -> None:
        if not self._offset:
            magic = f.read(len(MAGIC))
            if len(magic) == len(MAGIC):
                check_magic(magic)
                header = next(read_records(f), None)
                if header is not None:
                    self._offset, self._records = header[1], 1
            if not self._offset:  # a match that just started: its header is not written yet
                if ended:
                    self.problem = "the recording has no header record"
                return
        for payload, end in read_records(f, self._offset, self._records):
            if entry_kind(payload) in UPDATE_KINDS and self._frames.feed(payload):
                self._take_frame()
            self._offset, self._records = end, self._records + 1

    def _take_frame(self) -> None:
        w = self._frames.world
        if not self.score_frames:
            self.first_frame = w.frame
        self.last_frame = w.frame
        for e in w.events:
            self.events.append({"frame": w.frame, "time_ms": w.level_time_ms,
                                "event": json_format.MessageToDict(  # as the viewer's protobuf decoding names things
                                    e, preserving_proto_field_name=True, use_integers_for_enums=True,
                                    always_print_fields_with_no_presence=True)})
            if e.HasField("kill"):
                self.kills.append(w.frame)
        if not self.score_frames or w.frame - self.score_frames[-1] >= SCORE_EVERY:
            self._sample()

    def _sample(self) -> None:
        w = self._frames.world
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
                "events": self.events, "score_frames": self.score_frames, "problem": self.problem,
                "players": [{"client": c, "name": self.names.get(c, f"#{c}"), "scores": s}
                            for c, s in sorted(self.scores.items())]}
