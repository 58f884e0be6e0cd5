"""Replay: the state at a chosen frame as one keyframe, then the recorded deltas; bad recordings."""
import random

import pytest

from gametap.client import World
from gametap.core.errors import DataLoss, OutOfRange
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import MAGIC, MAX_RECORD, RECORD_HEAD, Recorder
from gametap.recordings.replay import DELTA, KEYFRAME, Replay, update_head
from gametap.v1 import observe_pb2 as opb

LAST = 23
KEYFRAME_EVERY = 5


def recorded_updates() -> list[opb.WorldUpdate]:
    """What the daemon records: frame 1's delta and keyframe, then a delta per frame, and
    after every fifth frame's delta that frame's keyframe."""
    world, out = World(), []
    for frame in range(1, LAST + 1):
        delta = wpb.WorldDelta(frame=frame, level_time_ms=50 * frame,
                               players=[wpb.Player(client=frame % 3, name=f"p{frame % 3}", health=frame)])
        if frame % 7 == 0:
            delta.removed_players.append((frame + 1) % 3)
        if frame == 1:
            world.apply(opb.WorldUpdate(keyframe=wpb.WorldState(frame=1, level_time_ms=50)))
            world.players[1] = delta.players[0]
        else:
            world.apply(opb.WorldUpdate(delta=delta))
        out.append(opb.WorldUpdate(delta=delta))
        if frame == 1 or frame % KEYFRAME_EVERY == 0:
            out.append(opb.WorldUpdate(keyframe=world.state()))
    return out


def write(path, updates) -> None:
    rec = Recorder(path, {"match_id": "abc"}, 1 << 20)
    for u in updates:
        rec.write(u.SerializeToString(deterministic=True))
    rec.close()


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "updates.gtrec"
    write(path, recorded_updates())
    return path


def state_at(frame: int) -> bytes:
    """The state at `frame`, from the recorded updates applied in order."""
    world = World()
    for u in recorded_updates():
        body = getattr(u, u.WhichOneof("update"))
        if body.frame > frame:
            break
        if u.WhichOneof("update") == "keyframe" or world.has_state:
            world.apply(u)
    return world.state().SerializeToString(deterministic=True)


def replayed(path, from_frame, until=None, size=4) -> list[opb.WorldUpdate]:
    return [opb.WorldUpdate.FromString(b) for batch in Replay(path, from_frame, until).batches(size) for b in batch]


@pytest.mark.parametrize("start", [1, 2, 4, 5, 6, 13, 22, LAST])
def test_a_replay_is_the_state_at_its_frame_then_consecutive_deltas(recording, start):
    updates = replayed(recording, start)
    assert updates[0].WhichOneof("update") == "keyframe" and updates[0].keyframe.frame == start
    assert updates[0].keyframe.SerializeToString(deterministic=True) == state_at(start)
    assert [u.WhichOneof("update") for u in updates[1:]] == ["delta"] * (LAST - start)
    world = World()
    for u in updates:
        world.apply(u)  # raises on a gap
    assert world.frame == LAST and world.state().SerializeToString(deterministic=True) == state_at(LAST)


def test_until_frame_stops_there(recording):
    replay = Replay(recording, 3, until_frame=9)
    frames = [update_head(b)[1] for batch in replay.batches(100) for b in batch]
    assert frames == list(range(3, 10)) and replay.first_frame == 3 and replay.last_frame == 9


def test_from_frame_zero_starts_at_the_first_keyframe(recording):
    updates = replayed(recording, 0)
    assert updates[0].keyframe.frame == 1 and len(updates) == LAST


def test_a_frame_past_the_end_is_out_of_range(recording):
    with pytest.raises(OutOfRange, match=f"past the recording's end \\(frame {LAST}\\)"):
        replayed(recording, LAST + 1)


def test_update_head_reads_kind_and_frame_off_the_wire():
    assert update_head(opb.WorldUpdate(delta=wpb.WorldDelta(frame=300)).SerializeToString()) == (DELTA, 300)
    assert update_head(opb.WorldUpdate(keyframe=wpb.WorldState(frame=7)).SerializeToString()) == (KEYFRAME, 7)
    assert update_head(opb.WorldUpdate(delta=wpb.WorldDelta()).SerializeToString()) == (DELTA, 0)


@pytest.mark.parametrize("payload", [b"", b"\x08\x01", b"\x1a\x00", b"\x12", b"\x12\x02\x08", b"\x12\xff"])
def test_update_head_rejects_what_is_not_an_update(payload):
    with pytest.raises(DataLoss):
        update_head(payload)


def test_a_corrupt_record_ends_the_replay_with_data_loss_after_what_came_before(recording):
    data = bytearray(recording.read_bytes())
    data[-3] ^= 0xFF  # inside the last record
    recording.write_bytes(bytes(data))
    got = []
    with pytest.raises(DataLoss, match="corrupt"):
        for batch in Replay(recording, 1).batches(8):
            got.extend(batch)
    assert [update_head(b)[1] for b in got] == list(range(1, LAST))  # everything before the bad record


def test_a_torn_tail_replays_up_to_the_last_complete_record(recording):
    recording.write_bytes(recording.read_bytes()[:-5])
    updates = replayed(recording, 1)
    assert updates[-1].delta.frame == LAST - 1


@pytest.mark.parametrize("content", [
    b"", b"not a recording at all", b"GAMETAP\x09" + bytes(16),  # empty, random, another version
    MAGIC + RECORD_HEAD.pack(MAX_RECORD + 1, 0),                  # an oversized record
])
def test_files_that_are_not_recordings_are_data_loss(tmp_path, content):
    path = tmp_path / "updates.gtrec"
    path.write_bytes(content)
    with pytest.raises(DataLoss):
        replayed(path, 1)


def test_random_records_are_data_loss_not_a_crash(tmp_path):
    rng, outcomes = random.Random(7), set()
    for i in range(50):
        path = tmp_path / f"r{i}.gtrec"
        rec = Recorder(path, {"match_id": "abc"}, 1 << 20)
        for _ in range(rng.randrange(1, 6)):
            rec.write(rng.randbytes(rng.randrange(0, 40)))
        rec.close()
        try:
            replayed(path, rng.randrange(0, 5))
            outcomes.add("replayed")
        except (DataLoss, OutOfRange) as e:
            outcomes.add(type(e).__name__)
    assert "DataLoss" in outcomes and outcomes <= {"replayed", "DataLoss", "OutOfRange"}
