"""Recordings: round trip, torn tail after a crash, the agents' records, and bad files."""
import random
import struct
import zlib

import pytest

from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings import recording
from gametap.recordings.recording import MAGIC, MAX_RECORD, RECORD_HEAD, Recorder, RecordingError, read_recording
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb
from gametap.v1 import recording_pb2 as rpb


def delta(frame: int, pad: int = 0) -> bytes:
    return opb.WorldUpdate(delta=wpb.WorldDelta(frame=frame, level_time_ms=pad)).SerializeToString()


def sized(n: int) -> list[bytes]:
    """n updates of 100 bytes each."""
    return [opb.WorldUpdate(delta=wpb.WorldDelta(frame=i + 1, match=wpb.MatchInfo(map="x" * 92))).SerializeToString()
            for i in range(n)]


def make(tmp_path, updates, max_bytes=1 << 20):
    path = tmp_path / "r.gtrec"
    rec = Recorder(path, {"match_id": "abc"}, max_bytes)
    for u in updates:
        rec.write(u)
    rec.close()
    return path, rec


def test_round_trip(tmp_path):
    updates = [delta(i + 1, pad=i * 1000) for i in range(50)]
    path, _ = make(tmp_path, updates)
    r = read_recording(path)
    assert r.metadata == {"match_id": "abc"} and r.updates == updates and not r.torn_tail


def test_torn_last_record_is_dropped_and_reported(tmp_path):
    updates = [delta(1), delta(2), delta(3, pad=99999)]
    path, _ = make(tmp_path, updates)
    data = path.read_bytes()
    for cut in range(1, len(updates[2]) + RECORD_HEAD.size):
        path.write_bytes(data[:-cut])
        r = read_recording(path)
        assert r.updates == updates[:2] and r.torn_tail


def test_corrupt_record_is_an_error(tmp_path):
    path, _ = make(tmp_path, [delta(1), delta(2)])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"record 2 at byte \d+ is corrupt"):
        read_recording(path)


def test_bad_magic_wrong_version_and_empty(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"NOTAREC!" + bytes(20))
    with pytest.raises(RecordingError, match="bad magic"):
        read_recording(path)
    path.write_bytes(MAGIC[:7] + b"\x09")
    with pytest.raises(RecordingError, match="version 9 is not supported"):
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
    path, rec = make(tmp_path, sized(10), max_bytes=450)
    assert rec.truncated and path.stat().st_size <= 450
    # 450 less the magic and the room kept for the end record (a quarter here): the header and two
    assert len(read_recording(path).updates) == 2


def test_a_recording_stopped_at_max_bytes_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        _, rec = make(tmp_path, sized(10), max_bytes=450)
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


def raw_recording(path, version: int, payloads: list[bytes]) -> None:
    out = MAGIC[:7] + bytes([version])
    for p in payloads:
        out += RECORD_HEAD.pack(len(p), zlib.crc32(p)) + p
    path.write_bytes(out)


def test_a_version_1_recording_still_reads(tmp_path):
    import msgpack
    path = tmp_path / "old.gtrec"
    updates = [delta(1), delta(2)]
    raw_recording(path, 1, [msgpack.packb({"match_id": "abc"}), *updates])
    r = read_recording(path)
    assert r.metadata == {"match_id": "abc"} and r.updates == updates and r.entries == [] and r.end is None


def test_agents_records_and_the_end_come_back_in_order(tmp_path):
    path = tmp_path / "r.gtrec"
    rec = Recorder(path, {"match_id": "abc"}, 1 << 20)
    join = rpb.AgentJoinRecord(stream=1, frame=3, clients=[4],
                               join=apb.JoinRequest(match_id="abc", slots=[apb.SlotSpec(name="a")], frames_per_step=2))
    batch = apb.ActionBatch(frame=5, actions=[apb.Action(client=4, forward=1, yaw=90)]).SerializeToString()
    rec.write(delta(3))
    rec.write(recording.entry(join=join))
    rec.write(recording.step_entry(1, 5, actions=batch))
    rec.write(recording.step_entry(1, 7, action_rows=b"\x00" * 28))
    rec.write(recording.entry(leave=rpb.AgentLeaveRecord(stream=1, frame=8, clients=[4])))
    rec.finish(recording.entry(end=rpb.MatchEndRecord(status=mpb.FINISHED, frame=9, ended_unix_s=1.5)))
    r = read_recording(path)
    assert r.updates == [delta(3)]
    assert [e.WhichOneof("kind") for e in r.entries] == ["join", "step", "step", "leave", "end"]
    assert r.entries[0].join == join
    assert r.entries[1].step == rpb.AgentStepRecord(stream=1, frame=5, actions=apb.ActionBatch.FromString(batch))
    assert r.entries[2].step.action_rows == b"\x00" * 28 and not r.entries[2].step.HasField("actions")
    assert r.end == rpb.MatchEndRecord(status=mpb.FINISHED, frame=9, ended_unix_s=1.5)


def test_the_end_record_fits_in_the_room_kept_for_it_within_max_bytes(tmp_path):
    path = tmp_path / "r.gtrec"
    rec = Recorder(path, {"match_id": "abc"}, 450)
    for u in sized(10):
        rec.write(u)
    rec.finish(recording.entry(end=rpb.MatchEndRecord(status=mpb.STOPPED, frame=10, failure="x" * 60)))
    r = read_recording(path)
    assert rec.truncated and len(r.updates) == 2 and r.end.status == mpb.STOPPED
    assert path.stat().st_size <= 450


def test_an_end_record_too_big_for_max_bytes_is_left_out_and_said(tmp_path, caplog):
    path = tmp_path / "r.gtrec"
    rec = Recorder(path, {"match_id": "abc"}, 450)
    for u in sized(10):
        rec.write(u)
    with caplog.at_level("WARNING"):
        rec.finish(recording.entry(end=rpb.MatchEndRecord(failure="x" * 400)))
    assert read_recording(path).end is None and path.stat().st_size <= 450
    assert "no room for its end record" in caplog.text


def test_a_record_of_no_known_kind_is_an_error(tmp_path):
    import msgpack
    path = tmp_path / "x.gtrec"
    for payload in (b"\x08\x01", b"\xfa\x01\x00", b""):  # a varint field 1, field 31, nothing
        raw_recording(path, 2, [msgpack.packb({"match_id": "abc"}), delta(1), payload])
        with pytest.raises(RecordingError, match="record 2 is of no known kind"):
            read_recording(path)


def test_a_record_that_does_not_decode_is_an_error(tmp_path):
    import msgpack
    path = tmp_path / "x.gtrec"
    raw_recording(path, 2, [msgpack.packb({"match_id": "abc"}), b"\x1a\x05\x08"])  # join, cut short
    with pytest.raises(RecordingError, match="does not decode"):
        read_recording(path)


# ---- the header's fields, and corrupt bytes, as the archive's scan reads them ----

def recorded(tmp_path, header: dict, frames: int = 30):
    """A whole recording (updates, an end record) with this header."""
    path = tmp_path / "r.gtrec"
    path.unlink(missing_ok=True)
    rec = Recorder(path, header, 1 << 20)
    for frame in range(1, frames + 1):
        rec.write(delta(frame, pad=frame * 1000))
    rec.finish(recording.entry(end=rpb.MatchEndRecord(status=mpb.FINISHED, frame=frames, ended_unix_s=9.0)))
    return path


GOOD_HEADER = {"match_id": "abc", "started": 5.0, "config": '{"map": "oa_dm2", "seed": 4}', "commit": "c0ffee",
               "gametap_version": "1", "host": "h", "game": "openarena", "map": "oa_dm2", "map_pk3": "x.pk3",
               "map_pk3_sha256": "ab", "cpu": "Xeon; fma", "seed": 4, "format": 2}


@pytest.mark.parametrize("key, value, shown", [
    ("started", "x", "str 'x', not a number"), ("started", None, "null, not a number"),
    ("started", True, "bool True, not a number"), ("commit", 5, "int 5, not a string"),
    ("map", [1], "list [1], not a string"), ("config", 7, "int 7, not a string"),
    ("config", "{not json", "does not parse"), ("config", '{"seed": "many"}', "does not parse"),
    ("seed", "7", "str '7', not a whole number"), ("format", 2.5, "float 2.5, not a whole number"),
    ("match_id", None, "null, not a string"), ("cpu", {"a": 1}, "dict {'a': 1}, not a string"),
])
def test_a_header_field_of_the_wrong_type_is_a_problem_of_the_recording_not_an_exception(tmp_path, key, value, shown):
    from gametap.recordings.archive import match_of
    from gametap.recordings.recording_scan import provenance_of, scan
    s = scan(recorded(tmp_path, {**GOOD_HEADER, key: value}))
    assert len(s.header_problems) == 1 and f"the header's {key} " in s.header_problems[0]
    assert shown in s.header_problems[0]
    assert s.damage == s.header_problems[0] and not s.complete and not s.problem
    p = provenance_of(s)  # what is readable is read; the bad field is taken as absent
    assert p.status == mpb.FINISHED and p.ended_unix_s == 9.0 and s.last_frame == 30
    assert p.started_unix_s == (0.0 if key == "started" else 5.0) and p.commit == ("unknown" if key == "commit" else "c0ffee")
    m = match_of("abcabcabcabc", s)
    assert m.recording_damage == s.damage and m.status == mpb.FINISHED and m.frame == 30


def test_a_well_typed_header_has_no_problems(tmp_path):
    from gametap.recordings.recording_scan import provenance_of, scan
    s = scan(recorded(tmp_path, GOOD_HEADER))
    assert s.complete and not s.damage and s.config.map == "oa_dm2" and s.config.seed == 4
    p = provenance_of(s)
    assert (p.started_unix_s, p.commit, p.map, p.cpu, p.config.seed) == (5.0, "c0ffee", "oa_dm2", "Xeon; fma", 4)


def test_random_header_values_never_raise(tmp_path):
    from gametap.recordings.archive import match_of
    from gametap.recordings.recording_scan import HEADER_TYPES, provenance_of, scan
    rng = random.Random(20)
    values = [None, True, -1, 2**64 - 1, 1.5, float("nan"), "", "x", b"\xff", [], [1, "a"], {}, {"k": None}, '{"map": 3}']
    for _ in range(200):
        header = {key: rng.choice(values) for key in rng.sample(sorted(HEADER_TYPES), rng.randint(1, 6))}
        s = scan(recorded(tmp_path, header, frames=3))
        provenance_of(s)
        assert match_of("abcabcabcabc", s).frame == 3


def update_payload_offsets(path) -> list[int]:
    """The byte offsets of every update record's payload."""
    out, at = [], len(MAGIC)
    data = path.read_bytes()
    while at < len(data):
        length, _ = RECORD_HEAD.unpack_from(data, at)
        if at > len(MAGIC) and recording.entry_kind(data[at + 8:at + 8 + length]) in recording.UPDATE_KINDS:
            out.append(at + RECORD_HEAD.size)
        at += RECORD_HEAD.size + length
    return out


def test_flipped_bytes_inside_update_records_are_found_where_they_are(tmp_path):
    from gametap.recordings.recording_scan import scan
    path = recorded(tmp_path, GOOD_HEADER, frames=30)
    data = bytearray(path.read_bytes())
    payloads = update_payload_offsets(path)
    first = payloads[10]  # the payload of frame 11's delta
    for i in range(20):  # 20 bytes flipped inside the payloads of frames 11..30's deltas
        data[payloads[10 + i % 20] + 1 + i // 20] ^= 0xA5
    path.write_bytes(bytes(data))
    s = scan(path)
    where = f"record 11 at byte {first - RECORD_HEAD.size} is corrupt (checksum mismatch)"
    assert s.problem == where and not s.torn and s.damage == where
    assert s.last_frame == 10 and s.good_bytes == first - RECORD_HEAD.size and s.end is None and s.records == 11
    with pytest.raises(RecordingError, match=f"record 11 at byte {first - RECORD_HEAD.size} is corrupt"):
        read_recording(path)  # the replaying reader names the same record and byte


def test_a_torn_tail_is_no_damage_and_no_header_is(tmp_path):
    from gametap.recordings.recording_scan import scan
    path = recorded(tmp_path, GOOD_HEADER)
    path.write_bytes(path.read_bytes()[:-3])
    s = scan(path)
    assert s.torn and "is torn" in s.problem and not s.damage and not s.complete
    path.write_bytes(MAGIC)
    s = scan(path)
    assert s.damage == "it has no header record" and not s.header
    path.write_bytes(MAGIC + b"\x05\x00")  # the header's own head, cut short
    s = scan(path)
    assert s.torn and s.damage == "it has no header record"
