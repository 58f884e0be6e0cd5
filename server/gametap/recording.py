"""Match recordings: an append-only file of serialized WorldUpdates.

Layout: 8-byte magic (format version in its last byte), then records of
[u32 length][u32 crc32][payload]. The first record is the metadata (a msgpack
map: match id, config as JSON, start time); every later one is a serialized
gametap.v1.WorldUpdate, in the order the daemon produced them (each frame's
delta, and after it that frame's keyframe when it has one). A crash can only
leave a torn last record: readers return everything before it.
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

log = logging.getLogger(__name__)

MAGIC = b"GAMETAP\x01"
RECORD_HEAD = struct.Struct("<II")
MAX_RECORD = 64 * 1024 * 1024


class RecordingError(Exception):
    """The file is not a recording, or a record in it is corrupt."""


class Recorder:
    """Writes a match's recording. It stops (and says why in `stopped`, and in the log) at
    max_bytes or at a write error such as a full disk; the match goes on either way."""

    def __init__(self, path: Path, metadata: dict, max_bytes: int):
        self.path = path
        self.max_bytes = max_bytes
        self.truncated = False  # stopped at max_bytes
        self.stopped = ""       # why it stopped early ("" = it did not)
        self._file: BinaryIO | None = open(path, "xb", buffering=1 << 20)
        self._size = 0
        self._file.write(MAGIC)
        self._append(msgpack.packb(metadata, use_bin_type=True))

    def write(self, payload: bytes) -> None:
        if self._file is None:
            return
        if self._size + RECORD_HEAD.size + len(payload) > self.max_bytes:
            self._stop_at_max_bytes()
            return
        try:
            self._append(payload)
        except OSError as e:
            self._stop_on(e)

    def write_records(self, records: bytes) -> None:
        """Records already framed ([length][crc32][payload] each, as the hot path makes them)."""
        if self._file is None or not records:
            return
        full = self._size + len(records) > self.max_bytes
        if full:
            fits = 0
            while fits < len(records):  # keep the whole records that fit
                length, _ = RECORD_HEAD.unpack_from(records, fits)
                if self._size + fits + RECORD_HEAD.size + length > self.max_bytes:
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
        self.truncated = True
        self._stop(f"it reached [recording] max_bytes ({self.max_bytes:,} bytes)")

    def _stop_on(self, error: OSError) -> None:
        self._stop(_write_failed(error))

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        log.warning("recording %s stopped: %s; the match goes on unrecorded", self.path, reason)
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


def _write_failed(error: OSError) -> str:
    return f"writing it failed: {error.strerror or error}"


@dataclass
class Recording:
    metadata: dict
    updates: list[bytes] = field(default_factory=list)
    torn_tail: bool = False  # the last record was incomplete (the writer died mid-write)


def iter_records(f: BinaryIO) -> Iterator[bytes]:
    """Complete records of a recording; raises RecordingError on a bad file or record,
    stops quietly before a torn last record, leaving f positioned at its start."""
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        if magic[:7] == MAGIC[:7]:
            raise RecordingError(f"recording format version {magic[7:8].hex() or '?'} is not supported (this reader: {MAGIC[7]})")
        raise RecordingError("not a gametap recording (bad magic)")
    index = 0
    start = f.tell()
    while head := f.read(RECORD_HEAD.size):
        if len(head) < RECORD_HEAD.size:
            f.seek(start)
            return
        length, crc = RECORD_HEAD.unpack(head)
        if length > MAX_RECORD:
            raise RecordingError(f"record {index} claims {length} bytes (limit {MAX_RECORD})")
        payload = f.read(length)
        if len(payload) < length:
            f.seek(start)
            return
        if zlib.crc32(payload) != crc:
            raise RecordingError(f"record {index} is corrupt (checksum mismatch)")
        yield payload
        index += 1
        start = f.tell()


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
        rec = Recording(metadata=metadata, updates=list(records))
        rec.torn_tail = f.tell() < size
        return rec
