"""What each reader says of a damaged recording (issue 20, item 8): reproduce and diff name the
damage and the recording, and the viewer's timeline marks where the recording stops."""
from __future__ import annotations

import re

import pytest

from gametap.core.errors import DataLoss, FailedPrecondition, InvalidArgument
from gametap.recordings.diff import diff_recordings
from gametap.recordings.recording import MAGIC, RECORD_HEAD
from gametap.recordings.replay import Replay
from gametap.recordings.reproduce import plan
from gametap.recordings.timeline import Timeline

from .test_archive import record
from .test_recording import update_payload_offsets


def headerless(tmp_path, name="nohead"):
    """A recording that is only the magic: its header never reached the disk."""
    path = tmp_path / f"{name}.gtrec"
    path.write_bytes(MAGIC)
    return path


def corrupted(tmp_path, match_id="cccccccccccc"):
    """A whole 20-frame recording with a flipped byte in frame 11's delta (record 14); that record's offset."""
    path = record(tmp_path, match_id)
    data = bytearray(path.read_bytes())
    payload = update_payload_offsets(path)[11]  # frame 1's delta and keyframe, then a delta a frame
    data[payload + 2] ^= 0x40
    path.write_bytes(bytes(data))
    return path, payload - RECORD_HEAD.size


def test_reproduce_says_a_recording_without_a_header_cannot_be_reproduced(tmp_path):
    with pytest.raises(FailedPrecondition) as e:
        plan(headerless(tmp_path))
    assert str(e.value) == "the recording is damaged (it has no header record): it cannot be reproduced"


def test_reproduce_refuses_a_corrupt_recording_saying_where(tmp_path):
    path, at = corrupted(tmp_path)
    with pytest.raises(FailedPrecondition, match=f"at byte {at} is corrupt .*: it cannot be reproduced"):
        plan(path)


def test_diff_names_the_recording_that_has_no_header(tmp_path):
    good = record(tmp_path, "aaaaaaaaaaaa")
    with pytest.raises(InvalidArgument) as e:
        diff_recordings(good, headerless(tmp_path))
    assert str(e.value) == (f"recordings: the second recording ({tmp_path / 'nohead.gtrec'}) is damaged "
                            "(it has no header record): it cannot be compared")
    with pytest.raises(InvalidArgument, match=r"the first recording \(A\) is damaged \(it has no header"):
        diff_recordings(headerless(tmp_path), good, names=("A", "B"))


def test_the_timeline_of_a_corrupt_recording_stops_where_updates_do_and_says_why(tmp_path):
    path, at = corrupted(tmp_path)
    t = Timeline(path).update(ended=True).to_json()
    assert t["problem"] == f"record 14 at byte {at} is corrupt (checksum mismatch)"
    assert (t["first_frame"], t["last_frame"]) == (1, 10)
    replay = Replay(path, 1, until_frame=20)
    got = []
    with pytest.raises(DataLoss, match=re.escape(t["problem"])):  # the recorded updates: to the same frame, for the same reason
        for batch in replay.batches(100):
            got += batch
    assert replay.last_frame == t["last_frame"]


def test_the_timeline_of_an_ended_match_without_a_header_says_so(tmp_path):
    path = headerless(tmp_path)
    assert Timeline(path).update().to_json()["problem"] == ""  # a match that just started: nothing yet
    t = Timeline(path).update(ended=True).to_json()
    assert t["problem"] == "the recording has no header record" and t["last_frame"] == 0


def test_a_whole_recording_s_timeline_has_no_problem(tmp_path):
    t = Timeline(record(tmp_path, "aaaaaaaaaaaa")).update(ended=True).to_json()
    assert t["problem"] == "" and (t["first_frame"], t["last_frame"]) == (1, 20)
