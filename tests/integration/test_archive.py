"""The archive (issue 9, item 2): after a restart, even one after `kill -9`, the daemon lists
its ended matches from their recordings; GetMatch, GetState and Watch answer for them;
`gametap recordings` shows, verifies and removes them; retention removes the oldest."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import grpc
import pytest

from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def cli(daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gametap", *args, "--server", daemon.grpc], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """A daemon that ran a finished match and a running one, was killed with SIGKILL together
    with the worker running the match (as a power cut would; the daemon's death alone lets
    its workers end their matches properly), and was started again on the same state directory."""
    state = tmp_path_factory.mktemp("archive-state")
    first = start_daemon(state, "--no-default-match")
    with first.client() as c:
        finished = c.create_match(lockstep(bots=("Sarge", "Grism"), max_frames=400, seed=5))
        assert wait_ended(c, finished.id).status == mpb.FINISHED
        running = c.create_match(lockstep(bots=("Sarge",), seed=6))
        wait_until(lambda: c.get_match(running.id).frame > 3000, 60, "the second match to run")
        worker = c.get_match(running.id).placement.worker_pid
    os.kill(worker, signal.SIGKILL)
    first.stop(signal.SIGKILL)
    again = start_daemon(state, "--no-default-match")
    yield {"daemon": again, "finished": finished.id, "killed": running.id}
    again.stop()


def test_the_restarted_daemon_lists_what_ended_before(restarted):
    with restarted["daemon"].client() as c:
        ended = {m.id: m for m in c.list_matches(mpb.MATCH_FILTER_ENDED)}
        assert c.list_matches(mpb.MATCH_FILTER_LIVE) == []
        assert {m.id for m in c.list_matches()} == set(ended) == {restarted["finished"], restarted["killed"]}
        done, killed = ended[restarted["finished"]], ended[restarted["killed"]]
        assert done.archived and done.status == mpb.FINISHED and done.frame == 400 and not done.failure
        assert done.config.seed == 5 and done.started_unix_s < done.ended_unix_s and done.recording_bytes > 0
        # the recording holds what was flushed before the kill (the daemon flushes every 0.2 s)
        assert killed.status == mpb.FAILED and killed.frame > 100 and not killed.ended_unix_s
        assert f"stops at frame {killed.frame} without the match's end" in killed.failure
        assert c.get_match(killed.id) == killed


def test_verify_says_where_a_killed_match_ends_and_watch_replays_to_there(restarted):
    daemon, killed = restarted["daemon"], restarted["killed"]
    out = cli(daemon, "recordings", "verify", killed)
    assert out.returncode == 1, out.stderr
    with daemon.client() as c:
        last = c.get_match(killed).frame
        assert "NOT whole" in out.stdout and f"through frame {last}" in out.stdout
        frames = [getattr(u, u.WhichOneof("update")).frame for u in c.watch(killed, max_batch=512, from_frame=1)]
        assert frames[0] == 1 and frames[-1] == last and frames == list(range(1, last + 1))
        assert c.get_state(killed).frame == last
    whole = cli(daemon, "recordings", "verify", restarted["finished"])
    assert whole.returncode == 0 and "whole" in whole.stdout and "through frame 400" in whole.stdout


def test_show_prints_the_provenance(restarted):
    import json
    out = cli(restarted["daemon"], "recordings", "show", restarted["finished"])
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)["provenance"]
    assert info["status"] == "FINISHED" and info["config"]["seed"] == 5 and info["map"] == "oa_dm1"
    assert info["commit"] and info["module"]["buildId"] and len(info["mapPk3Sha256"]) == 64
    listing = cli(restarted["daemon"], "recordings", "list")
    assert restarted["finished"] in listing.stdout and "FINISHED" in listing.stdout


def test_rm_removes_an_ended_match_and_refuses_a_live_or_unknown_one(restarted):
    daemon = restarted["daemon"]
    with daemon.client() as c:
        live = c.create_match(lockstep(bots=("Sarge",)))
        with pytest.raises(grpc.RpcError) as e:
            c.delete_recording(live.id)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "stop it first" in e.value.details()
        c.stop_match(live.id)
        out = cli(daemon, "recordings", "rm", live.id)
        assert out.returncode == 0 and f"removed {live.id}" in out.stdout
        assert not daemon.match_dir(live.id).exists()
        with pytest.raises(grpc.RpcError) as e:
            c.get_match(live.id)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in ("0123456789ab", "../../etc", "x" * 300):
        out = cli(daemon, "recordings", "rm", bad)
        assert out.returncode == 1 and "NOT_FOUND" in out.stderr


def test_retention_removes_the_oldest_ended_matches_by_name(tmp_path):
    state = tmp_path / "state"
    first = start_daemon(state, "--no-default-match")
    ids, sizes = [], []
    with first.client() as c:
        for seed in (1, 2, 3):
            m = c.create_match(lockstep(bots=("Sarge",), max_frames=300, seed=seed))
            assert wait_ended(c, m.id).status == mpb.FINISHED
            ids.append(m.id)
            sizes.append(c.get_match(m.id).recording_bytes)
    first.stop()
    config = tmp_path / "gametap.toml"
    config.write_text(f"[recording]\nkeep_bytes = {sizes[2] + sizes[1] + 1}\n")  # room for the newest two
    again = start_daemon(state, "--no-default-match", "--config", str(config))
    try:
        with again.client() as c:
            assert {m.id for m in c.list_matches(mpb.MATCH_FILTER_ENDED)} == set(ids[1:])
        assert not again.match_dir(ids[0]).exists() and again.match_dir(ids[1]).exists()
        assert any(f"retention: removed match {ids[0]}" in line and "keep_bytes" in line for line in again.output)
        with again.client() as c:  # a new match ending pushes the next oldest out
            m = c.create_match(lockstep(bots=("Sarge",), max_frames=300, seed=4))
            wait_ended(c, m.id)
            wait_until(lambda: not again.match_dir(ids[1]).exists(), 30, "the next oldest to be removed")
            assert {x.id for x in c.list_matches(mpb.MATCH_FILTER_ENDED)} == {ids[2], m.id}
    finally:
        again.stop()
