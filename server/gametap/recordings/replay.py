"""Replaying a match's recording: the state at a chosen frame as one keyframe, then the
recorded deltas after it (the recording's other records, the agents' and the end, are skipped).

A recording holds every frame's delta and, every keyframe_interval frames, that frame's
keyframe right after its delta. To start at frame F the replay takes the last recorded
keyframe at or before F, applies the deltas after it up to F (gametap.client.World) and
sends the result as the stream's keyframe. Later recorded keyframes are skipped: a Watch
stream is one keyframe, then consecutive deltas.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from google.protobuf.message import DecodeError

from gametap import wire
from gametap.client.world import World, WorldError
from gametap.core.errors import DataLoss, GametapError, OutOfRange
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import RecordingError, iter_records, only_updates
from gametap.v1 import observe_pb2 as opb

KEYFRAME, DELTA = (wire.field_number(opb.WorldUpdate, name) for name in ("keyframe", "delta"))
_FRAME_TAG = wire.varint(wire.field_number(wpb.WorldState, "frame") << 3)  # a varint field
assert wire.field_number(wpb.WorldDelta, "frame") == wire.field_number(wpb.WorldState, "frame")


def update_head(payload: bytes) -> tuple[int, int]:
    """(KEYFRAME or DELTA, frame) of a serialized WorldUpdate, read off the wire without
    parsing the message (`frame` is the first field of both WorldState and WorldDelta)."""
    if not payload or payload[0] & 7 != 2 or payload[0] >> 3 not in (KEYFRAME, DELTA):
        raise DataLoss("a recorded update is neither a keyframe nor a delta")
    try:
        _, pos = wire.read_varint(payload, 1)
        tag = len(_FRAME_TAG)
        frame = wire.read_varint(payload, pos + tag)[0] if payload[pos:pos + tag] == _FRAME_TAG else 0
    except ValueError as e:
        raise DataLoss(f"a recorded update is cut short ({e})") from None
    return payload[0] >> 3, frame


class Replay:
    """The updates of one recording from from_frame on (up to until_frame when given).
    Blocking file reads: run it off the event loop."""

    def __init__(self, path: Path, from_frame: int, until_frame: int | None = None):
        self._path, self._from, self._until = path, from_frame, until_frame
        self.first_frame: int | None = None  # the frame of the stream's keyframe
        self.last_frame: int | None = None   # the last frame handed out

    def batches(self, size: int) -> Iterator[list[bytes]]:
        """Up to `size` updates at a time; on a bad record, what came before it still goes out."""
        batch = []
        try:
            for update in self._updates():
                batch.append(update)
                if len(batch) >= size:
                    yield batch
                    batch = []
        except GametapError:
            if batch:
                yield batch
            raise
        if batch:
            yield batch

    def _updates(self) -> Iterator[bytes]:
        try:
            with open(self._path, "rb") as f:
                records = iter_records(f)
                if next(records, None) is None:
                    raise DataLoss("the recording has no metadata record")
                yield from self._from_records(only_updates(records))
        except RecordingError as e:
            raise DataLoss(f"recording {self._path.parent.name}: {e}") from e

    def _from_records(self, records: Iterator[bytes]) -> Iterator[bytes]:
        base, pending, start = None, [], self._from  # last keyframe at or before start, deltas after it
        for payload in records:
            kind, frame = update_head(payload)
            if self._until is not None and frame > self._until:
                break
            if base is None and frame > start:  # nothing recorded at or before from_frame:
                if kind != KEYFRAME:               # begin at the next keyframe
                    continue
                start = frame
            if frame <= start:
                if kind == KEYFRAME:
                    base, pending = payload, []
                elif base is not None:
                    pending.append(payload)
                continue
            if self.first_frame is None:
                yield self._keyframe(base, pending, start)
            if kind == DELTA:
                self.last_frame = frame
                yield payload
        if self.first_frame is None:
            if base is None:
                raise OutOfRange("the recording holds no keyframe")
            yield self._keyframe(base, pending, start)

    def _keyframe(self, base: bytes, pending: list[bytes], frame: int) -> bytes:
        """A WorldUpdate{keyframe} of the state at `frame`: base plus the pending deltas."""
        world = _rebuild(self._path, base, pending)
        if world.frame != frame:
            raise OutOfRange(f"frame {frame} is past the recording's end (frame {world.frame})")
        self.first_frame = self.last_frame = frame
        if not pending:
            return base
        return opb.WorldUpdate(keyframe=world.state()).SerializeToString(deterministic=True)


def final_state(path: Path) -> bytes:
    """The serialized WorldState at a recording's last complete frame (blocking file reads)."""
    base, pending = None, []
    try:
        with open(path, "rb") as f:
            records = iter_records(f)
            if next(records, None) is None:
                raise DataLoss("the recording has no metadata record")
            for payload in only_updates(records):
                if update_head(payload)[0] == KEYFRAME:
                    base, pending = payload, []  # a frame's keyframe follows its delta
                elif base is not None:
                    pending.append(payload)
    except RecordingError as e:
        raise DataLoss(f"recording {path.parent.name}: {e}") from e
    if base is None:
        raise DataLoss(f"recording {path.parent.name} holds no keyframe")
    return _rebuild(path, base, pending).state().SerializeToString(deterministic=True)


def _rebuild(path: Path, base: bytes, pending: list[bytes]) -> World:
    """The world of a recorded keyframe with the recorded deltas after it applied."""
    world = World()
    try:
        for payload in [base, *pending]:
            world.apply(opb.WorldUpdate.FromString(payload))
    except (WorldError, DecodeError) as e:
        raise DataLoss(f"recording {path.parent.name} cannot be replayed: {e}") from e
    return world


class FrameStepper:
    """A recording's updates fed one at a time into a World, frame by frame. A recording's first
    delta comes before the first keyframe (of the same frame); later keyframes repeat what the
    deltas built and are passed over."""

    def __init__(self):
        self.world = World()
        self.delta = b""  # the serialized delta of the frame the world is at
        self._first: tuple[int, bytes] | None = None

    def feed(self, payload: bytes) -> bool:
        """True when the update completed a frame: the world is at it."""
        update = opb.WorldUpdate.FromString(payload)
        is_delta = update.HasField("delta")
        if self.world.has_state:
            if is_delta:
                self.world.apply(update)
                self.delta = payload
            return is_delta
        if is_delta:
            self._first = (update.delta.frame, payload)
            return False
        self.world.apply(update)
        if self._first is None or self._first[0] != self.world.frame:
            return False
        self.delta = self._first[1]
        return True


def frame_by_frame(path: Path) -> Iterator[tuple[int, bytes, World]]:
    """(frame, its recorded delta's bytes, the world after it) for every recorded frame, in
    order; the same World object each time, updated. The file is read as it goes (blocking);
    RecordingError for a file that is no recording or a corrupt record."""
    stepper = FrameStepper()
    with open(path, "rb") as f:
        records = iter_records(f)
        next(records, None)  # the header
        for payload in only_updates(records):
            if stepper.feed(payload):
                yield stepper.world.frame, stepper.delta, stepper.world
