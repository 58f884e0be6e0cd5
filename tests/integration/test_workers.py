"""Matches run in worker processes: they spread over the workers, the library follows a
match to its worker, a plain gRPC client still watches and plays through the daemon's
one address, and a worker's death fails only its own matches."""
import os
import signal

import grpc
import pytest

from gametap.client import AgentStream, Client
from gametap.recordings.recording import RecordingError, read_recording
from gametap.recordings.recording_scan import scan
from gametap.testing import pid_alive, start_daemon, wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import agent_pb2_grpc, observe_pb2_grpc
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    d = start_daemon(tmp_path_factory.mktemp("workers"), "--no-default-match", "--workers", "2")
    yield d
    d.stop()


def test_matches_spread_over_the_workers(two_workers):
    with two_workers.client() as c:
        a = c.create_match(lockstep(max_frames=3000))
        b = c.create_match(lockstep(max_frames=3000))
        assert {a.placement.worker, b.placement.worker} == {0, 1}
        assert a.placement.worker_pid != b.placement.worker_pid and a.placement.grpc_port != b.placement.grpc_port
        for m in (a, b):
            assert wait_ended(c, m.id).status == mpb.FINISHED
            assert c.get_state(m.id).frame == 3000
        assert all(pid_alive(m.placement.worker_pid) for m in (a, b))


def test_concurrent_creations_spread_and_placement_groups_stay_together(two_workers):
    with two_workers.client() as c:
        pending = [c.create_match_later(lockstep(bots=("Grism",), max_frames=200)) for _ in range(4)]
        workers = [p.result().placement.worker for p in pending]
        assert set(workers) == {0, 1}  # creations on their way count: not all four on one worker
        # (not exactly 2 + 2: the earlier tests' matches may still count as load where they ran)
        grouped = [c.create_match_later(lockstep(bots=("Grism",), max_frames=200), "vec-test.1") for _ in range(3)]
        assert len({p.result().placement.worker for p in grouped}) == 1
        with pytest.raises(grpc.RpcError) as e:
            c.matches.CreateMatch(mpb.CreateMatchRequest(config=lockstep(), placement_group="no spaces"))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "placement_group" in e.value.details()
        for p in pending + grouped:
            wait_ended(c, p.result().id)


def test_the_library_goes_to_the_match_s_worker(two_workers):
    with two_workers.client() as c:
        m = c.create_match(lockstep(bots=("Sarge",), max_frames=500))
        channel = c.data_channel(m.id)
        assert channel is not c.channel  # the worker's own port, not the daemon's
        direct = observe_pb2_grpc.ObserveServiceStub(grpc.insecure_channel(f"127.0.0.1:{m.placement.grpc_port}"))
        wait_ended(c, m.id)
        assert direct.GetState(opb.GetStateRequest(match_id=m.id), timeout=10).state.frame == 500
        updates = list(c.watch(m.id, max_batch=64))
        assert updates[0].WhichOneof("update") == "keyframe"
    with Client(two_workers.grpc, follow_matches=False) as through_daemon:
        assert through_daemon.data_channel(m.id) is through_daemon.channel
        assert through_daemon.get_state(m.id).frame == 500


def test_a_plain_grpc_client_watches_and_plays_through_the_daemon(two_workers):
    """Only the published protos and grpcio: no gametap.client."""
    channel = grpc.insecure_channel(two_workers.grpc)
    with two_workers.client() as c:
        m = c.create_match(lockstep(bots=("Grism",), hold_for_agents=1, max_frames=3000))
    play = agent_pb2_grpc.AgentServiceStub(channel)
    requests = [apb.PlayRequest(join=apb.JoinRequest(match_id=m.id, slots=[apb.SlotSpec(name="plain")]))]
    import queue
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    outbox.put(requests[0])
    stop = object()
    responses = play.Play(iter(outbox.get, stop))
    joined = next(responses).joined
    (me,) = joined.clients
    frames = []
    for step in range(30):
        obs = next(responses).observation
        frames.append(obs.frame)
        outbox.put(apb.PlayRequest(act=apb.ActionBatch(frame=obs.frame, actions=[
            apb.Action(client=me, forward=1.0, yaw=float(step * 5))])))
    assert frames == list(range(frames[0], frames[0] + 30))  # one observation per frame, in lockstep
    watch = observe_pb2_grpc.ObserveServiceStub(channel).Watch(opb.WatchRequest(match_id=m.id, max_batch=16))
    first = next(watch)
    assert first.updates[0].WhichOneof("update") == "keyframe"
    me_in_world = [p for p in first.updates[0].keyframe.players if p.client == me]
    assert me_in_world and me_in_world[0].name == "plain"
    watch.cancel()
    outbox.put(stop)
    responses.cancel()
    state = observe_pb2_grpc.ObserveServiceStub(channel).GetState(opb.GetStateRequest(match_id=m.id), timeout=10)
    assert state.state.frame >= frames[-1]
    with two_workers.client() as c:
        c.stop_match(m.id)


def test_a_dead_worker_fails_only_its_matches_and_is_replaced(tmp_path):
    d = start_daemon(tmp_path / "state", "--no-default-match", "--workers", "2")
    try:
        with d.client() as c:
            victim = c.create_match(lockstep(bots=("Sarge", "Grism"), hold_for_agents=1))
            bystander = c.create_match(lockstep(bots=("Major",), max_frames=200_000))
            assert victim.placement.worker != bystander.placement.worker
            with AgentStream(c, victim.id, [apb.SlotSpec(name="doomed")]) as agents:
                agents.observe()
                for _ in range(20):
                    agents.step([apb.Action(client=agents.clients[0], forward=1.0)])
                game = c.get_match(victim.id).pid
                wait_until(lambda: _has_keyframe(d.match_dir(victim.id) / "updates.gtrec"), 10,
                           "the recording to reach the disk")  # it is flushed every 0.2 s
                os.kill(victim.placement.worker_pid, signal.SIGKILL)
                with pytest.raises(grpc.RpcError):  # the stream ends with the worker
                    for _ in range(1000):
                        agents.step([apb.Action(client=agents.clients[0], forward=1.0)])
            failed = wait_ended(c, victim.id, timeout=30)
            assert failed.status == mpb.FAILED
            assert "worker" in failed.failure and "SIGKILL" in failed.failure, failed.failure
            wait_until(lambda: not pid_alive(game), 15, "the dead worker's game to end")
            frame = c.get_match(bystander.id).frame
            wait_until(lambda: c.get_match(bystander.id).frame > frame + 100, 30, "the other worker's match to go on")
            assert c.get_match(bystander.id).status == mpb.RUNNING
            assert c.get_state(victim.id).frame > 0  # the last state, from the recording
            replacement = wait_until(lambda: next((m for m in [_try_create(c)] if m), None), 60, "a new match")
            assert replacement.status in (mpb.STARTING, mpb.RUNNING)
            assert wait_until(lambda: c.get_match(replacement.id).frame > 10, 60, "the new match to run")
            c.stop_match(replacement.id)
            c.stop_match(bystander.id)
    finally:
        d.stop()


def test_a_killed_worker_s_match_reports_the_frame_its_recording_reaches(tmp_path):
    """Issue 20, item 10: once its worker is gone, a match's record comes from its recording."""
    d = start_daemon(tmp_path / "state", "--no-default-match", "--workers", "1")
    try:
        with d.client() as c:
            m = c.create_match(lockstep(bots=("Sarge", "Grism")))
            path = d.match_dir(m.id) / "updates.gtrec"
            seen = wait_until(lambda: (f := c.get_match(m.id).frame) > 1000 and f, 60, "the match to run")
            # The game runs on, thousands of frames a second, and its worker flushes the recording
            # every 0.2 s; the daemon hears of the match's frame only when asked.
            wait_until(lambda: _recorded_frame(path) > seen + 2000, 60, "the recording to go on")
            os.kill(m.placement.worker_pid, signal.SIGKILL)
            failed = wait_ended(c, m.id, timeout=30)
            recorded = scan(path).last_frame
            assert failed.status == mpb.FAILED and "SIGKILL" in failed.failure, failed.failure
            assert failed.frame == recorded == c.get_match(m.id).frame > seen + 2000
            assert f"its recording reaches frame {recorded}" in failed.failure
            assert failed.recording_bytes == path.stat().st_size and failed.ended_unix_s > failed.started_unix_s
            assert [x.frame for x in c.list_matches() if x.id == m.id] == [recorded]
    finally:
        d.stop()


def _recorded_frame(path) -> int:
    try:
        return scan(path).last_frame
    except (OSError, RecordingError):
        return 0  # not written yet


def _has_keyframe(path) -> bool:
    try:
        recording = read_recording(path)
    except (OSError, RecordingError):
        return False  # not written yet, or only its first bytes
    return any(u[:1] == b"\n" for u in recording.updates)  # WorldUpdate.keyframe (field 1)


def _try_create(c):
    try:
        return c.create_match(lockstep(bots=("Sarge",), max_frames=2000))
    except grpc.RpcError:
        return None  # the replacement worker may still be starting


def test_a_recording_stopped_at_max_bytes_is_reported_and_the_match_goes_on(tmp_path):
    config = tmp_path / "gametap.toml"
    config.write_text("[recording]\nmax_bytes = 20000\n")
    d = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        with d.client() as c:
            m = c.create_match(lockstep(max_frames=3000))
            ended = wait_ended(c, m.id)
            assert ended.status == mpb.FINISHED and c.get_state(m.id).frame == 3000  # the match went on
            assert ended.recording_stopped == "it reached [recording] max_bytes (20,000 bytes)"
            assert (d.match_dir(m.id) / "updates.gtrec").stat().st_size <= 20000
        assert any("stopped: it reached [recording] max_bytes" in line for line in d.output)
    finally:
        d.stop()
