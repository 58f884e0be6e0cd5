"""Match recordings: an append-only file of a match's updates and what its agents did.

Layout: 8-byte magic (format version in its last byte), then records of
[u32 length][u32 crc32][payload]. The first record is the header (a msgpack map: the
match's provenance, gametap.recordings.provenance); every later one is a serialized
gametap.v1.RecordEntry (proto/gametap/v1/recording.proto), in the order things happened:
each frame's delta, and after it that frame's keyframe when it has one (both exactly the
WorldUpdate bytes Watch sends), the agents' joins, steps and leaves, the game module, and
last the match's end. A crash can only leave a torn last record: readers return
everything before it. Version 1 held updates only; it still reads.
"""
from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import msgpack
from google.protobuf.message import DecodeError

from gametap import wire
from gametap.v1 import recording_pb2 as rpb

log = logging.getLogger(__name__)

VERSION = 2
MAGIC = b"GAMETAP" + bytes([VERSION])
READABLE_VERSIONS = (1, 2)
RECORD_HEAD = struct.Struct("<II")
MAX_RECORD = 64 * 1024 * 1024
END_ROOM = 4096  # bytes of max_bytes kept for the end record (64 players' scores fit)
ENTRY_KINDS = frozenset(f.number for f in rpb.RecordEntry.DESCRIPTOR.oneofs_by_name["kind"].fields)
UPDATE_KINDS = frozenset(wire.field_number(rpb.RecordEntry, name) for name in ("keyframe", "delta"))


class RecordingError(Exception):
    """The file is not a recording, or a record in it is corrupt."""


class Recorder:
    """Writes a match's recording. It stops (and says why in `stopped`, and in the log) at
    max_bytes or at a write error such as a full disk; the match goes on either way."""

    def __init__(self, path: Path, metadata: dict, max_bytes: int):
        self.path = path
        self.max_bytes = max_bytes
        # Updates stop this much short of max_bytes, so that the end record still fits.
        self._limit = max_bytes - len(MAGIC) - min(END_ROOM, max_bytes // 4)
        self.truncated = False  # stopped at max_bytes (the file stays open for the end record)
        self.stopped = ""       # why it stopped early ("" = it did not)
        self._file: BinaryIO | None = open(path, "xb", buffering=1 << 20)
        self._size = 0
        self._file.write(MAGIC)
        self._append(msgpack.packb(metadata, use_bin_type=True))

    @property
    def size(self) -> int:
        """Bytes written so far (the file's size once it is closed)."""
        return len(MAGIC) + self._size

    def write(self, payload: bytes) -> None:
        if self._file is None or self.truncated:
            return
        if self._size + RECORD_HEAD.size + len(payload) > self._limit:
            self._stop_at_max_bytes()
            return
        try:
            self._append(payload)
        except OSError as e:
            self._stop_on(e)

    def write_records(self, records: bytes) -> None:
        """Records already framed ([length][crc32][payload] each, as the hot path makes them)."""
        if self._file is None or self.truncated or not records:
            return
        full = self._size + len(records) > self._limit
        if full:
            fits = 0
            while fits < len(records):  # keep the whole records that fit
                length, _ = RECORD_HEAD.unpack_from(records, fits)
                if self._size + fits + RECORD_HEAD.size + length > self._limit:
                    break
                fits += RECORD_HEAD.size + length
            records = records[:fits]
        try:
            self._file.write(records)
        except OSError as e:
            self._stop_on(e)
            return
        self._size += len(records)
        if full:
            self._stop_at_max_bytes()

    def _stop_at_max_bytes(self) -> None:
        self.truncated = True  # the file stays open for the end record
        self._stop(f"it reached [recording] max_bytes ({self.max_bytes:,} bytes)", close=False)

    def finish(self, end_record: bytes) -> None:
        """Appends the match's end record (in the room kept for it below max_bytes: a recording
        stopped early still says how its match ended) and closes the file."""
        if self._file is not None:
            if len(MAGIC) + self._size + RECORD_HEAD.size + len(end_record) > self.max_bytes:
                log.warning("recording %s: no room for its end record within max_bytes", self.path)
            else:
                try:
                    self._append(end_record)
                except OSError as e:
                    self._stop_on(e)
        self.close()

    def _stop_on(self, error: OSError) -> None:
        self._stop(_write_failed(error))

    def _stop(self, reason: str, close: bool = True) -> None:
        self.stopped = reason
        log.warning("recording %s stopped: %s; the match goes on unrecorded", self.path, reason)
        if close:
            self.close()

    def _append(self, payload: bytes) -> None:
        self._file.write(RECORD_HEAD.pack(len(payload), zlib.crc32(payload)))
        self._file.write(payload)
        self._size += RECORD_HEAD.size + len(payload)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as e:
                self._stop_on(e)

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as e:  # the buffered rest could not be written (a full disk)
                if not self.stopped:
                    self.stopped = _write_failed(e)
                    log.warning("recording %s: its last part was lost: %s", self.path, self.stopped)


def _parse_entry(payload: bytes) -> rpb.RecordEntry:
    try:
        return rpb.RecordEntry.FromString(payload)
    except DecodeError as e:
        raise RecordingError(f"a record does not decode as a RecordEntry ({e})") from e


def _write_failed(error: OSError) -> str:
    return f"writing it failed: {error.strerror or error}"


def entry_kind(payload: bytes) -> int:
    """Which RecordEntry field a record holds (UPDATE_KINDS: it is a serialized WorldUpdate),
    read off its first byte; 0 if it is none of them."""
    if not payload or payload[0] & 7 != 2:
        return 0
    kind = payload[0] >> 3
    return kind if kind in ENTRY_KINDS else 0


def entry(join=None, leave=None, module=None, end=None) -> bytes:
    """A serialized RecordEntry of one kind."""
    return rpb.RecordEntry(join=join, leave=leave, module=module, end=end).SerializeToString()


_STEP = wire.field_number(rpb.RecordEntry, "step")
_STEP_STREAM, _STEP_FRAME, _STEP_ACTIONS, _STEP_ROWS = (
    wire.field_number(rpb.AgentStepRecord, n) for n in ("stream", "frame", "actions", "action_rows"))


def step_entry(stream: int, frame: int, actions: bytes | None = None, action_rows: bytes | None = None) -> bytes:
    """A serialized RecordEntry{step}: the actions as the agent sent them, a serialized
    ActionBatch or PlayMany's flat rows, framed without building a message (once per step)."""
    sent = wire.bytes_field(_STEP_ACTIONS, actions) if action_rows is None else wire.bytes_field(_STEP_ROWS, action_rows)
    return wire.bytes_field(_STEP, wire.varint_field(_STEP_STREAM, stream) + wire.varint_field(_STEP_FRAME, frame) + sent)


@dataclass
class Recording:
    metadata: dict
    updates: list[bytes] = field(default_factory=list)  # serialized WorldUpdates, in order
    entries: list[rpb.RecordEntry] = field(default_factory=list)  # the other records, in order
    torn_tail: bool = False  # the last record was incomplete (the writer died mid-write)

    @property
    def end(self) -> rpb.MatchEndRecord | None:
        """How the match ended; None if the recording stops before (the writer died)."""
        return next((e.end for e in reversed(self.entries) if e.HasField("end")), None)

    @property
    def module(self) -> rpb.GameModuleRecord | None:
        return next((e.module for e in self.entries if e.HasField("module")), None)


def check_magic(magic: bytes) -> int:
    """The format version of a file that begins with these bytes; RecordingError if it is no
    recording this reader reads."""
    if len(magic) != len(MAGIC) or magic[:7] != MAGIC[:7]:
        raise RecordingError("not a gametap recording (bad magic)")
    if magic[7] not in READABLE_VERSIONS:
        raise RecordingError(f"recording format version {magic[7]} is not supported (this reader reads "
                             f"versions {', '.join(map(str, READABLE_VERSIONS))})")
    return magic[7]


def read_records(f: BinaryIO, start: int = len(MAGIC), index: int = 0) -> Iterator[tuple[bytes, int]]:
    """(payload, the offset after it) of each complete record from byte `start` on, the start of
    record number `index` (for reading a growing recording again from where the last read
    ended). Stops quietly before an incomplete last record (torn, or still being written);
    RecordingError naming the record and its byte for a corrupt one."""
    f.seek(start)
    at, read, unpack, crc32 = start, f.read, RECORD_HEAD.unpack, zlib.crc32
    while head := read(RECORD_HEAD.size):
        if len(head) < RECORD_HEAD.size:
            return
        length, crc = unpack(head)
        if length > MAX_RECORD:
            raise RecordingError(f"record {index} at byte {at} claims {length} bytes (the limit is {MAX_RECORD})")
        payload = read(length)
        if len(payload) < length:
            return
        if crc32(payload) != crc:
            raise RecordingError(f"record {index} at byte {at} is corrupt (checksum mismatch)")
        at += RECORD_HEAD.size + length
        index += 1
        yield payload, at


def iter_records(f: BinaryIO) -> Iterator[bytes]:
    """Complete records of a recording; raises RecordingError on a bad file or record,
    stops quietly before a torn last record, leaving f positioned at its start."""
    check_magic(f.read(len(MAGIC)))
    good = len(MAGIC)
    for payload, after in read_records(f):
        yield payload
        good = after
    f.seek(good)


def only_updates(records: Iterator[bytes]) -> Iterator[bytes]:
    """The WorldUpdate records among a recording's records."""
    return (payload for payload in records if entry_kind(payload) in UPDATE_KINDS)


def iter_entries(path: Path) -> Iterator[rpb.RecordEntry]:
    """The records that are not updates (the agents', the module's, the end), in order, read as
    the file goes; RecordingError for a bad file or record."""
    with open(path, "rb") as f:
        records = iter_records(f)
        next(records, None)  # the header
        for payload in records:
            kind = entry_kind(payload)
            if kind and kind not in UPDATE_KINDS:
                yield _parse_entry(payload)


def read_recording(path: Path) -> Recording:
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        records = iter_records(f)
        try:
            head = next(records)
        except StopIteration:
            raise RecordingError("recording has no metadata record") from None
        try:
            metadata = msgpack.unpackb(head, raw=False)
        except Exception as e:
            raise RecordingError(f"metadata record is not valid msgpack ({e})") from e
        if not isinstance(metadata, dict):
            raise RecordingError("metadata record is not a map")
        rec = Recording(metadata=metadata)
        for payload in records:
            kind = entry_kind(payload)
            if kind in UPDATE_KINDS:
                rec.updates.append(payload)
            elif kind:
                rec.entries.append(_parse_entry(payload))
            else:
                raise RecordingError(f"record {len(rec.updates) + len(rec.entries) + 1} is of no known kind")
        rec.torn_tail = f.tell() < size
        return rec
