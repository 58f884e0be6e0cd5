"""Recordings: round trip, torn tail after a crash, and bad files."""
import random
import struct

import pytest

from gametap.recording import MAGIC, MAX_RECORD, RECORD_HEAD, Recorder, RecordingError, read_recording


def make(tmp_path, updates, max_bytes=1 << 20):
    path = tmp_path / "r.gtrec"
    rec = Recorder(path, {"match_id": "abc"}, max_bytes)
    for u in updates:
        rec.write(u)
    rec.close()
    return path, rec


def test_round_trip(tmp_path):
    updates = [bytes([i]) * (i + 1) for i in range(50)]
    path, _ = make(tmp_path, updates)
    r = read_recording(path)
    assert r.metadata == {"match_id": "abc"} and r.updates == updates and not r.torn_tail


def test_torn_last_record_is_dropped_and_reported(tmp_path):
    path, _ = make(tmp_path, [b"one", b"two", b"three"])
    data = path.read_bytes()
    for cut in range(1, len(b"three") + RECORD_HEAD.size):
        path.write_bytes(data[:-cut])
        r = read_recording(path)
        assert r.updates == [b"one", b"two"] and r.torn_tail


def test_corrupt_record_is_an_error(tmp_path):
    path, _ = make(tmp_path, [b"one", b"two"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="record 2 is corrupt"):
        read_recording(path)


def test_bad_magic_wrong_version_and_empty(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"NOTAREC!" + bytes(20))
    with pytest.raises(RecordingError, match="bad magic"):
        read_recording(path)
    path.write_bytes(MAGIC[:7] + b"\x09")
    with pytest.raises(RecordingError, match="version 09"):
        read_recording(path)
    path.write_bytes(MAGIC)
    with pytest.raises(RecordingError, match="no metadata"):
        read_recording(path)


def test_oversized_record_is_an_error(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(MAGIC + struct.pack("<II", MAX_RECORD + 1, 0))
    with pytest.raises(RecordingError, match="claims"):
        read_recording(path)


def test_metadata_must_be_a_msgpack_map(tmp_path):
    import zlib
    path = tmp_path / "x"
    for payload in (b"\xc1", b"\x93\x01\x02\x03"):
        path.write_bytes(MAGIC + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
        with pytest.raises(RecordingError, match="metadata"):
            read_recording(path)


def test_random_bytes_after_magic(tmp_path):
    rng = random.Random(3)
    path = tmp_path / "x"
    for _ in range(300):
        path.write_bytes(MAGIC + rng.randbytes(rng.randint(0, 64)))
        try:
            read_recording(path)
        except RecordingError:
            pass


def test_recorder_stops_at_its_size_limit(tmp_path):
    path, rec = make(tmp_path, [b"x" * 100] * 10, max_bytes=450)
    assert rec.truncated
    assert len(read_recording(path).updates) == 3


def test_a_recording_stopped_at_max_bytes_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        _, rec = make(tmp_path, [b"x" * 100] * 10, max_bytes=450)
    assert rec.stopped == "it reached [recording] max_bytes (450 bytes)"
    assert "stopped: it reached [recording] max_bytes" in caplog.text


class FullDisk:
    """A file whose writes fail as on a full disk (after `room` bytes)."""

    def __init__(self, room: int):
        self.room = room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        raise OSError(28, "No space left on device")


def test_a_full_disk_stops_the_recording_not_the_match(tmp_path, caplog):
    rec = Recorder(tmp_path / "r.gtrec", {"match_id": "abc"}, 1 << 20)
    rec._file.close()
    rec._file = FullDisk(room=250)
    with caplog.at_level("WARNING"):
        for _ in range(5):
            rec.write(b"y" * 100)  # the third one does not fit: no exception, the recording stops
        rec.write_records(RECORD_HEAD.pack(3, 0) + b"abc")
        rec.flush()
        rec.close()
    assert rec.stopped == "writing it failed: No space left on device"
    assert "the match goes on unrecorded" in caplog.text
