"""Bounds on what callers can make the daemon spend ([limits] in the settings). Over one, the
caller gets ResourceExhausted (gRPC RESOURCE_EXHAUSTED, a Foxglove status) naming the limit;
nothing else changes. The defaults keep a 2-core machine alive (5,000 subscriptions on one
websocket halved an unrelated match's speed)."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from gametap.core.auth import key_names
from gametap.core.errors import ResourceExhausted

DEFAULTS = {
    "matches": 64,                      # live (starting or running) matches on the daemon
    "play_streams_per_match": 64,       # agents' streams in one match (a PlayMany member counts as one)
    "play_streams": 512,                # agents' streams in one worker
    "watch_streams_per_match": 64,      # gRPC Watch streams of one match
    "watch_streams": 256,               # gRPC Watch streams in one worker
    "websockets": 256,                  # viewer (Foxglove) connections to one process
    "subscriptions_per_websocket": 64,  # subscriptions on one viewer connection
}


def over(name: str, limit: int, now: int, what: str) -> ResourceExhausted:
    return ResourceExhausted(f"{what}: {now} already, [limits] {name} = {limit}")


class StreamCount:
    """Open streams of one kind in this process: at most per_match for a match, total in all."""

    def __init__(self, kind: str, per_match: int, total: int):
        self.kind, self.per_match, self.total = kind, per_match, total
        self._open: Counter[str] = Counter()

    def acquire(self, match_id: str) -> None:
        if self._open[match_id] >= self.per_match:
            raise over(f"{self.kind}_streams_per_match", self.per_match, self._open[match_id],
                       f"too many {self.kind} streams on match {match_id}")
        if sum(self._open.values()) >= self.total:
            raise over(f"{self.kind}_streams", self.total, sum(self._open.values()), f"too many {self.kind} streams")
        self._open[match_id] += 1

    def release(self, match_id: str) -> None:
        self._open[match_id] -= 1
        if self._open[match_id] <= 0:
            del self._open[match_id]

    @contextmanager
    def held(self, match_id: str):
        self.acquire(match_id)
        try:
            yield
        finally:
            self.release(match_id)

    def open(self, match_id: str | None = None) -> int:
        return self._open[match_id] if match_id is not None else sum(self._open.values())


class Limits:
    """A process's limits and its stream counts (one per worker, and the daemon's for matches)."""

    def __init__(self, values: dict[str, int] | None = None):
        self.values = {**DEFAULTS, **(values or {})}
        v = self.values
        self.play = StreamCount("play", v["play_streams_per_match"], v["play_streams"])
        self.watch = StreamCount("watch", v["watch_streams_per_match"], v["watch_streams"])

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def update(self, values: dict[str, int]) -> None:
        """New bounds (SIGHUP); streams open now stay open, new ones meet the new bounds."""
        self.values = {**DEFAULTS, **values}
        v = self.values
        self.play.per_match, self.play.total = v["play_streams_per_match"], v["play_streams"]
        self.watch.per_match, self.watch.total = v["watch_streams_per_match"], v["watch_streams"]


def parse(table: dict) -> dict[str, int]:
    """The [limits] table of a settings file: known names, whole numbers >= 1."""
    unknown = set(table) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown keys in [limits]: {key_names(unknown, DEFAULTS)}")
    out = {}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
            raise ValueError(f"[limits] {name} = {value!r}: a whole number 1..1000000")
        out[name] = value
    return out
