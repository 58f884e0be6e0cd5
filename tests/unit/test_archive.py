"""The archive's index, its check of a recording, and retention, on recordings made here."""
import json
import os
import random
import time

import msgpack
import pytest

from gametap.core.errors import FailedPrecondition, NotFound
from gametap.core.settings import Retention
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings import recording
from gametap.recordings.archive import Archive
from gametap.recordings.recording import MAGIC, RECORD_HEAD, Recorder, RecordingError
from gametap.recordings.recording_scan import scan
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb
from gametap.v1 import recording_pb2 as rpb


def update(frame: int, keyframe: bool = False) -> bytes:
    if keyframe:
        return opb.WorldUpdate(keyframe=wpb.WorldState(frame=frame)).SerializeToString()
    return opb.WorldUpdate(delta=wpb.WorldDelta(frame=frame, level_time_ms=50 * frame)).SerializeToString()


def record(state_dir, match_id: str, frames: int = 20, end: int | None = mpb.FINISHED, seed: int = 3,
           header: dict | None = None):
    folder = state_dir / "matches" / match_id
    folder.mkdir(parents=True)
    path = folder / "updates.gtrec"
    config = json.dumps({"map": "oa_dm1", "clock": "LOCKSTEP", "seed": seed})
    rec = Recorder(path, {"match_id": match_id, "started": 1000.0, "config": config, "commit": "abc", **(header or {})},
                   1 << 20)
    rec.write(recording.entry(module=rpb.GameModuleRecord(path="/x/qagame.so", build_id="ff")))
    for f in range(1, frames + 1):
        rec.write(update(f))
        if f == 1:
            rec.write(update(1, keyframe=True))
        if f == 5:
            rec.write(recording.entry(join=rpb.AgentJoinRecord(stream=1, frame=5, clients=[2],
                                                               join=apb.JoinRequest(frames_per_step=4))))
    if end is None:
        rec.close()
    else:
        rec.finish(recording.entry(end=rpb.MatchEndRecord(status=end, frame=frames, ended_unix_s=2000.0)))
    return path


def test_a_whole_recording_scans_complete_with_its_provenance(tmp_path):
    path = record(tmp_path, "aaaaaaaaaaaa")
    s = scan(path)
    assert s.complete and not s.problem and s.last_frame == 20 and s.good_bytes == s.size
    assert s.records == 1 + 1 + 21 + 1 + 1 and s.module.build_id == "ff" and s.joins[0].clients == [2]
    info = Archive(tmp_path).describe("aaaaaaaaaaaa", verify=True)
    p = info.provenance
    assert (p.status, p.config.seed, p.commit, p.started_unix_s, p.ended_unix_s) == (mpb.FINISHED, 3, "abc", 1000.0, 2000.0)
    assert info.check.complete and info.check.last_frame == 20 and info.bytes == path.stat().st_size


def test_a_torn_tail_is_found_and_said_where(tmp_path):
    path = record(tmp_path, "bbbbbbbbbbbb", end=None)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    s = scan(path)
    assert not s.complete and "is torn" in s.problem and f"at byte {s.good_bytes}" in s.problem
    assert s.last_frame == 19
    a = Archive(tmp_path)
    a.index()
    m = a.get("bbbbbbbbbbbb")
    assert m.status == mpb.FAILED and "stops at frame 19 without the match's end" in m.failure and m.archived


def test_the_index_lists_a_corrupt_recording_as_damaged_saying_where(tmp_path, caplog):
    path = record(tmp_path, "cccccccccccc")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    s = scan(path)
    assert "is corrupt (checksum mismatch)" in s.problem and s.damage == s.problem and not s.complete
    a = Archive(tmp_path)
    with caplog.at_level("WARNING"):
        a.index()
    m = a.get("cccccccccccc")
    assert m.status == mpb.FAILED and m.recording_damage == s.problem and m.frame == s.last_frame < 20
    assert f"cannot be read past frame {s.last_frame}: {s.problem}" in m.failure
    assert f"archive: match cccccccccccc: its recording is damaged: {s.problem}" in caplog.text


@pytest.mark.parametrize("content, message", [
    (b"NOTAREC!" + bytes(10), "bad magic"), (MAGIC[:7] + b"\x07", "version 7"), (b"GAM", "bad magic")])
def test_files_that_are_no_recording_are_refused(tmp_path, content, message):
    path = tmp_path / "x.gtrec"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        scan(path)


def test_random_and_oversized_records_are_problems_not_crashes(tmp_path):
    rng = random.Random(9)
    path = tmp_path / "x.gtrec"
    head = msgpack.packb({"match_id": "x"})
    import zlib
    good = MAGIC + RECORD_HEAD.pack(len(head), zlib.crc32(head)) + head
    path.write_bytes(good + RECORD_HEAD.pack(recording.MAX_RECORD + 1, 0))
    assert "claims" in scan(path).problem
    for _ in range(300):
        path.write_bytes(good + rng.randbytes(rng.randint(1, 80)))
        s = scan(path)
        assert s.problem and s.good_bytes >= len(good)


def test_what_is_no_recording_is_listed_as_damaged_and_named(tmp_path, caplog):
    record(tmp_path, "dddddddddddd")
    bad = tmp_path / "matches" / "eeeeeeeeeeee"
    bad.mkdir()
    (bad / "updates.gtrec").write_bytes(b"garbage!")
    (tmp_path / "matches" / "not-an-id").mkdir()
    a = Archive(tmp_path)
    with caplog.at_level("INFO"):
        a.index()
    assert sorted(m.id for m in a.matches()) == ["dddddddddddd", "eeeeeeeeeeee"]
    m = a.get("eeeeeeeeeeee")
    assert m.status == mpb.FAILED and m.archived and m.recording_bytes == 8
    assert m.recording_damage == "not a gametap recording (bad magic)" and m.failure == (
        "its recording cannot be read: not a gametap recording (bad magic)")
    assert "archive: match eeeeeeeeeeee: its recording is damaged: not a gametap recording (bad magic)" in caplog.text
    assert "2 recorded matches" in caplog.text and "1 of them damaged" in caplog.text
    with pytest.raises(FailedPrecondition, match="not a gametap recording"):
        a.describe("eeeeeeeeeeee", verify=False)
    with pytest.raises(NotFound):
        a.describe("../../etc/pa", verify=False)


@pytest.mark.parametrize("started", ["x", None])
def test_one_bad_header_never_empties_the_archive(tmp_path, caplog, started):
    record(tmp_path, "aaaaaaaaaaaa")
    record(tmp_path, "bbbbbbbbbbbb", header={"started": started})
    record(tmp_path, "cccccccccccc")
    a = Archive(tmp_path)
    with caplog.at_level("INFO"):
        a.index()
    assert sorted(m.id for m in a.matches()) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]
    assert a.get("aaaaaaaaaaaa").status == mpb.FINISHED and not a.get("aaaaaaaaaaaa").recording_damage
    bad = a.get("bbbbbbbbbbbb")
    assert bad.status == mpb.FINISHED and bad.frame == 20 and bad.started_unix_s == 0  # what is readable
    assert bad.recording_damage.startswith("the header's started is ") and "not a number" in bad.recording_damage
    assert f"archive: match bbbbbbbbbbbb: its recording is damaged: {bad.recording_damage}" in caplog.text
    assert "archive: 3 recorded matches" in caplog.text and "1 of them damaged" in caplog.text
    assert "every record's checksum checked" in caplog.text
    assert a.describe("bbbbbbbbbbbb", verify=True).check.problem == bad.recording_damage


def test_a_recording_whose_reading_fails_in_any_way_is_listed_damaged_and_the_rest_indexed(tmp_path, caplog,
                                                                                         monkeypatch):
    import gametap.recordings.archive
    record(tmp_path, "aaaaaaaaaaaa")
    record(tmp_path, "bbbbbbbbbbbb")
    real = gametap.recordings.archive.scan

    def scan_or_fail(path):
        if path.parent.name == "bbbbbbbbbbbb":
            raise ZeroDivisionError("an unforeseen bug")
        return real(path)

    monkeypatch.setattr(gametap.recordings.archive, "scan", scan_or_fail)
    a = Archive(tmp_path)
    with caplog.at_level("WARNING"):
        a.index()
    assert a.get("aaaaaaaaaaaa").status == mpb.FINISHED
    assert a.get("bbbbbbbbbbbb").recording_damage == "reading it failed: ZeroDivisionError: an unforeseen bug"
    assert "match bbbbbbbbbbbb: its recording is damaged: reading it failed: ZeroDivisionError" in caplog.text


def run_upkeep(archive, rule, live=frozenset()):
    import asyncio

    from gametap.recordings.archive import Upkeep
    removed = []

    async def go():
        upkeep = Upkeep(archive, rule, lambda: set(live), removed.append)
        upkeep.start()
        await upkeep.ready()
        upkeep.stop()
    asyncio.run(go())
    return removed


def test_retention_runs_after_an_index_that_met_a_bad_header(tmp_path):
    old = record(tmp_path, "aaaaaaaaaaaa")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    record(tmp_path, "bbbbbbbbbbbb", header={"started": "x"})
    a = Archive(tmp_path)
    assert run_upkeep(a, Retention(keep_days=1)) == ["aaaaaaaaaaaa"]
    assert [m.id for m in a.matches()] == ["bbbbbbbbbbbb"]


def test_an_upkeep_that_fails_says_so_and_retention_still_runs(tmp_path, caplog, monkeypatch):
    old = record(tmp_path, "aaaaaaaaaaaa")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    a = Archive(tmp_path)

    def broken():
        raise PermissionError(13, "Permission denied", str(tmp_path / "matches"))
    monkeypatch.setattr(a, "index", broken)
    with caplog.at_level("ERROR"):
        assert run_upkeep(a, Retention(keep_days=1)) == ["aaaaaaaaaaaa"]
    assert "archive: the index at start failed: [Errno 13] Permission denied" in caplog.text


def test_retention_removes_the_oldest_first_and_spares_live_matches(tmp_path, caplog):
    ids = [c * 12 for c in "abcdef"]
    now = time.time()
    for age, match_id in zip((9, 8, 7, 3, 2, 1), ids):
        path = record(tmp_path, match_id)
        os.utime(path, (now - age * 86400, now - age * 86400))
    a = Archive(tmp_path)
    a.index()
    size = (tmp_path / "matches" / ids[0] / "updates.gtrec").stat().st_size
    with caplog.at_level("INFO"):
        assert a.enforce(Retention(keep_days=5), live={ids[1]}, now=now) == [ids[0], ids[2]]  # ids[1] runs
    assert f"retention: removed match {ids[0]}" in caplog.text and "keep_days" in caplog.text
    assert a.enforce(Retention(keep_bytes=2 * size), live=set(), now=now) == [ids[1], ids[3]]
    assert sorted(m.id for m in a.matches()) == ids[4:]
    assert a.enforce(Retention(), live=set(), now=now) == []  # no limits: nothing goes


# ---- the archive's bound by default: a share of its file system, and a floor of free space ----

GB = 10**9


def test_the_default_bound_is_a_quarter_of_the_file_system():
    from gametap.recordings.archive import Disk, bound
    b = bound(Retention(), Disk(total=400 * GB, free=200 * GB), archive_bytes=30 * GB)
    assert b.bytes == 100 * GB and "25% of the 400.0 GB file system" in b.why


def test_the_free_space_floor_bounds_the_archive_when_the_disk_is_fuller():
    from gametap.recordings.archive import Disk, bound
    b = bound(Retention(), Disk(total=400 * GB, free=3 * GB), archive_bytes=30 * GB)
    assert b.bytes == 30 * GB + 3 * GB - (1 << 30) and "1.1 GB free" in b.why and "keep_free_bytes" in b.why
    b = bound(Retention(), Disk(total=400 * GB, free=10**8), archive_bytes=5 * 10**8)
    assert b.bytes == 0  # less than the floor free, and the archive smaller than what is missing: all of it goes


def test_an_explicit_keep_bytes_and_no_limits_at_all():
    from gametap.recordings.archive import Disk, bound
    disk = Disk(total=400 * GB, free=200 * GB)
    b = bound(Retention(keep_bytes=5 * GB, keep_share=0), disk, archive_bytes=GB)
    assert b.bytes == 5 * GB and "keep_bytes = 5,000,000,000" in b.why
    assert bound(Retention(keep_bytes=0, keep_share=0, keep_free_bytes=0), disk, archive_bytes=GB) is None


def ended_a_minute_apart(state_dir, letters: str, now: float) -> tuple[list[str], int]:
    """A recorded match per letter (id: the letter 12 times), the first ended longest ago; their
    ids and the size of one."""
    ids = [c * 12 for c in letters]
    for age, match_id in zip(range(len(ids), 0, -1), ids):
        os.utime(record(state_dir, match_id), (now - age * 60,) * 2)
    return ids, (state_dir / "matches" / ids[0] / "updates.gtrec").stat().st_size


def test_retention_removes_the_oldest_past_the_default_bound(tmp_path, caplog):
    from gametap.recordings.archive import Disk
    now = time.time()
    ids, size = ended_a_minute_apart(tmp_path, "abcdef", now)
    a = Archive(tmp_path)
    a.index()
    disk = Disk(total=int(4 * 2.5 * size), free=100 * GB)  # a quarter of it: room for two and a half
    with caplog.at_level("INFO"):
        assert a.enforce(Retention(), live={ids[0]}, now=now, disk=disk) == ids[1:4]
    assert sorted(m.id for m in a.matches()) == [ids[0], *ids[4:]]
    assert f"retention: removed match {ids[1]}" in caplog.text and "25% of the" in caplog.text


def test_the_size_bounds_spare_the_newest_ended_match(tmp_path, caplog):
    """A full disk (the floor of free space unmet, the bound 0) takes every ended match but the
    newest: on a small disk the match just ended would otherwise vanish as it ends."""
    from gametap.recordings.archive import Disk
    now = time.time()
    ids, size = ended_a_minute_apart(tmp_path, "abc", now)
    a = Archive(tmp_path)
    full = Disk(total=4 * 10**6, free=0)
    with caplog.at_level("INFO"):
        assert a.enforce(Retention(), live=set(), now=now, disk=full) == ids[:2]
        assert a.enforce(Retention(), live=set(), now=now, disk=full) == []
    assert (tmp_path / "matches" / ids[2]).is_dir()
    assert a.enforce(Retention(keep_days=1e-9), live=set(), now=now, disk=full) == [ids[2]]  # keep_days may


def test_a_warning_as_the_archive_nears_its_bound_once_per_crossing(tmp_path, caplog):
    from gametap.recordings.archive import Disk
    now = time.time()
    ids, size = ended_a_minute_apart(tmp_path, "abcd", now)
    a = Archive(tmp_path)
    rule = Retention(keep_bytes=int(4.2 * size), keep_share=0)  # four is 95 % of it: near
    with caplog.at_level("WARNING"):
        for _ in range(3):
            assert a.enforce(rule, live=set(), now=now, disk=Disk(total=100 * GB, free=50 * GB)) == []
    near = [r.getMessage() for r in caplog.records if "nears its bound" in r.getMessage()]
    assert len(near) == 1 and f"{4 * size:,} bytes" in near[0] and "keep_bytes" in near[0]
    a.enforce(Retention(keep_bytes=int(3.2 * size), keep_share=0), live=set(), now=now)  # removes one: 3 of 3.2
    caplog.clear()
    with caplog.at_level("WARNING"):
        a.enforce(Retention(keep_bytes=10 * size, keep_share=0), live=set(), now=now)  # far below: re-armed
        a.enforce(Retention(keep_bytes=int(3.1 * size), keep_share=0), live=set(), now=now)  # near again
    assert len([r for r in caplog.records if "nears its bound" in r.getMessage()]) == 1
