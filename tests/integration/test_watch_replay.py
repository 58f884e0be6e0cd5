"""Watch from a past frame: replayed from the match's recording, then live; recordings of
matches the daemon no longer lists; bad requests and bad recordings."""
import shutil

import grpc
import pytest

from gametap.client import World
from gametap.recordings.recording import RECORD_HEAD, UPDATE_KINDS, entry_kind, iter_records
from gametap.recordings.replay import DELTA, update_head
from gametap.testing import wait_until
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def watch(client, match_id, from_frame, max_batch=256, stop_at=None) -> list[opb.WorldUpdate]:
    out = []
    for update in client.watch(match_id, max_batch=max_batch, from_frame=from_frame):
        out.append(update)
        if stop_at is not None and getattr(update, update.WhichOneof("update")).frame >= stop_at:
            break
    return out


def frames_and_kinds(updates):
    return ([getattr(u, u.WhichOneof("update")).frame for u in updates], [u.WhichOneof("update") for u in updates])


def state_bytes(world: World) -> bytes:
    return world.state().SerializeToString(deterministic=True)


def apply_until(updates, frame: int) -> World:
    world = World()
    for u in updates:
        if getattr(u, u.WhichOneof("update")).frame > frame:
            break
        world.apply(u)
    return world


@pytest.fixture(scope="module")
def ended_match(daemon):
    with daemon.client() as client:
        match = client.create_match(lockstep(max_frames=1500, keyframe_interval=200))
        assert wait_ended(client, match.id).status == mpb.FINISHED
        return match.id


def test_an_ended_match_replays_from_any_frame_to_its_final_state(client, ended_match):
    everything = watch(client, ended_match, from_frame=1)
    frames, kinds = frames_and_kinds(everything)
    assert frames == list(range(1, 1501)) and kinds == ["keyframe"] + ["delta"] * 1499
    final = state_bytes(apply_until(everything, 1500))
    assert final == client.get_state(ended_match).SerializeToString(deterministic=True)
    for start in (2, 200, 777, 1500):  # on, between and at the end of recorded keyframes
        replay = watch(client, ended_match, from_frame=start)
        frames, kinds = frames_and_kinds(replay)
        assert frames == list(range(start, 1501)) and kinds.count("keyframe") == 1
        assert replay[0].keyframe.SerializeToString(deterministic=True) == state_bytes(apply_until(everything, start))
        assert state_bytes(apply_until(replay, 1500)) == final


def test_a_live_match_replays_the_past_then_continues_live(client):
    match = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)]))
    try:
        wait_until(lambda: client.get_match(match.id).frame >= 60, 30, "three seconds of play")
        updates = watch(client, match.id, from_frame=10, max_batch=1, stop_at=client.get_match(match.id).frame + 40)
        frames, kinds = frames_and_kinds(updates)
        assert frames == list(range(10, frames[-1] + 1)) and kinds == ["keyframe"] + ["delta"] * (len(frames) - 1)
        from_start = watch(client, match.id, from_frame=1, stop_at=frames[-1])
        assert state_bytes(apply_until(from_start, frames[-1])) == state_bytes(apply_until(updates, frames[-1]))
    finally:
        client.stop_match(match.id)


def test_a_match_the_daemon_no_longer_lists_replays_from_its_recording_on_disk(client, daemon, ended_match):
    gone = "0123456789ab"  # as if listed before a restart: only its directory remains
    daemon.match_dir(gone).mkdir()
    shutil.copy(daemon.match_dir(ended_match) / "updates.gtrec", daemon.match_dir(gone) / "updates.gtrec")
    with pytest.raises(grpc.RpcError) as e:
        client.get_match(gone)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    replay = watch(client, gone, from_frame=0)
    frames, _ = frames_and_kinds(replay)
    assert frames == list(range(1, 1501))
    assert state_bytes(apply_until(replay, 1500)) == client.get_state(ended_match).SerializeToString(deterministic=True)


def status_of(client, match_id, from_frame) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        watch(client, match_id, from_frame)
    return e.value.code(), e.value.details()


def test_bad_replay_requests_get_clear_statuses(client, daemon, ended_match):
    assert status_of(client, "0badc0ffee00", 5)[0] == grpc.StatusCode.NOT_FOUND
    assert status_of(client, "../../etc/passwd", 0)[0] == grpc.StatusCode.NOT_FOUND
    code, details = status_of(client, ended_match, 1501)
    assert code == grpc.StatusCode.OUT_OF_RANGE and "1500" in details
    live = client.create_match(lockstep(max_frames=100000, keyframe_interval=500))
    try:
        code, details = status_of(client, live.id, 10**9)
        assert code == grpc.StatusCode.OUT_OF_RANGE and "ahead of match" in details
    finally:
        client.stop_match(live.id)


def test_a_corrupt_recording_is_data_loss_after_the_updates_before_it(client, daemon, ended_match):
    broken = "fedcba987654"
    daemon.match_dir(broken).mkdir()
    source = daemon.match_dir(ended_match) / "updates.gtrec"
    data = bytearray(source.read_bytes())
    payload_at, intact = record_in_the_middle(source)
    data[payload_at] ^= 0xFF  # a damaged byte inside a record: its checksum no longer matches
    (daemon.match_dir(broken) / "updates.gtrec").write_bytes(bytes(data))
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for update in client.watch(broken, max_batch=1, from_frame=1):
            got.append(update)
    assert e.value.code() == grpc.StatusCode.DATA_LOSS and "corrupt" in e.value.details()
    assert frames_and_kinds(got)[0] == list(range(1, intact + 1))  # everything before the bad record


def record_in_the_middle(path) -> tuple[int, int]:
    """Where the payload of the record spanning the file's middle starts, and the frame of
    the last delta before that record."""
    middle, frame = path.stat().st_size // 2, 0
    with open(path, "rb") as f:
        records = iter_records(f)
        next(records)  # the metadata
        start = f.tell()
        for payload in records:
            if f.tell() > middle:
                return start + RECORD_HEAD.size, frame
            if entry_kind(payload) in UPDATE_KINDS:  # not an agent's record, the module's or the end
                kind, at = update_head(payload)
                frame = at if kind == DELTA else frame
            start = f.tell()
    raise AssertionError("no record spans the middle")
