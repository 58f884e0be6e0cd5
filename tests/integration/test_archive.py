"""The archive (issue 9, item 2): after a restart, even one after `kill -9`, the daemon lists
its ended matches from their recordings; GetMatch, GetState and Watch answer for them;
`gametap recordings` shows, verifies and removes them; retention removes the oldest.
Damaged recordings (issue 20, items 2, 5 and 8) are listed as damaged, named in the log, and
hide nothing else; what reads them says what is wrong, and where."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import zlib

import grpc
import msgpack
import pytest

from gametap.recordings.recording import MAGIC, RECORD_HEAD, UPDATE_KINDS, entry_kind
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

# Recordings planted in the state directory before the restart, each damaged its own way.
BAD_STARTED, NULL_STARTED, FLIPPED, NO_HEADER, GARBAGE = (f"badbad00000{i}" for i in range(1, 6))

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
    flipped_at = plant_damaged(state / "matches", state / "matches" / finished.id / "updates.gtrec")
    again = start_daemon(state, "--no-default-match")
    yield {"daemon": again, "finished": finished.id, "killed": running.id, "flipped_at": flipped_at}
    again.stop()


def plant_damaged(matches, good) -> tuple[int, int]:
    """Copies of a good recording damaged five ways; (the byte where the flipped one's first
    corrupt record starts, the last frame before it)."""
    data = good.read_bytes()
    length, _ = RECORD_HEAD.unpack_from(data, len(MAGIC))
    header_end = len(MAGIC) + RECORD_HEAD.size + length
    header = msgpack.unpackb(data[len(MAGIC) + RECORD_HEAD.size:header_end])
    for match_id, started in ((BAD_STARTED, "x"), (NULL_STARTED, None)):
        payload = msgpack.packb({**header, "match_id": match_id, "started": started})
        plant(matches, match_id, MAGIC + RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload
              + data[header_end:])
    flipped, updates, at, frame, first = bytearray(data), [], header_end, 0, None
    while at < len(data):
        length, _ = RECORD_HEAD.unpack_from(data, at)
        if entry_kind(data[at + 8:at + 8 + length]) in UPDATE_KINDS:
            updates.append((at, length))
        at += RECORD_HEAD.size + length
    for at, length in updates[len(updates) // 2:][:20]:  # 20 bytes flipped inside update records: their frames
        flipped[at + RECORD_HEAD.size + min(3, length - 1)] ^= 0x7F
        first = at if first is None else first
    for at, length in updates:
        if at < first:
            frame = max(frame, read_frame(data[at + 8:at + 8 + length]))
    plant(matches, FLIPPED, bytes(flipped))
    plant(matches, NO_HEADER, MAGIC)
    plant(matches, GARBAGE, b"this is no recording at all")
    return first, frame


def read_frame(payload: bytes) -> int:
    from gametap.recordings.replay import update_head
    return update_head(payload)[1]


def plant(matches, match_id: str, data: bytes) -> None:
    (matches / match_id).mkdir()
    (matches / match_id / "updates.gtrec").write_bytes(data)
    os.utime(matches / match_id / "updates.gtrec", (1e9, 1e9))  # long ago: not a match of the new run


def test_the_restarted_daemon_lists_what_ended_before(restarted):
    with restarted["daemon"].client() as c:
        ended = {m.id: m for m in c.list_matches(mpb.MATCH_FILTER_ENDED)}
        assert c.list_matches(mpb.MATCH_FILTER_LIVE) == []
        planted = {BAD_STARTED, NULL_STARTED, FLIPPED, NO_HEADER, GARBAGE}
        assert {m.id for m in c.list_matches()} - planted == set(ended) - planted == {restarted["finished"],
                                                                                        restarted["killed"]}
        done, killed = ended[restarted["finished"]], ended[restarted["killed"]]
        assert done.archived and done.status == mpb.FINISHED and done.frame == 400 and not done.failure
        assert done.config.seed == 5 and done.started_unix_s < done.ended_unix_s and done.recording_bytes > 0
        # the recording holds what was flushed before the kill (the daemon flushes every 0.2 s)
        assert killed.status == mpb.FAILED and killed.frame > 100 and not killed.ended_unix_s
        assert f"stops at frame {killed.frame} without the match's end" in killed.failure
        assert c.get_match(killed.id) == killed


def test_damaged_recordings_are_listed_as_damaged_and_hide_nothing(restarted):
    daemon = restarted["daemon"]
    flipped_at, last_good = restarted["flipped_at"], restarted["flipped_at"][1]
    with daemon.client() as c:
        listed = {m.id: m for m in c.list_matches(mpb.MATCH_FILTER_ENDED)}
        assert set(listed) == {restarted["finished"], restarted["killed"], BAD_STARTED, NULL_STARTED, FLIPPED,
                               NO_HEADER, GARBAGE}
        good = c.get_match(restarted["finished"])
        assert good.status == mpb.FINISHED and good.frame == 400 and not good.recording_damage
        for bad in (BAD_STARTED, NULL_STARTED):  # what is readable: all of it but the start time
            m = c.get_match(bad)
            assert m.status == mpb.FINISHED and m.frame == 400 and m.started_unix_s == 0 and m.ended_unix_s
            assert m.recording_damage.startswith("the header's started is ") and "not a number" in m.recording_damage
        flipped = c.get_match(FLIPPED)
        where = f"at byte {flipped_at[0]} is corrupt (checksum mismatch)"
        assert flipped.status == mpb.FAILED and flipped.frame == last_good < 400
        assert where in flipped.recording_damage and where in flipped.failure
        assert c.get_match(NO_HEADER).recording_damage == "it has no header record"
        assert c.get_match(GARBAGE).recording_damage == "not a gametap recording (bad magic)"
        assert c.get_match(GARBAGE).status == mpb.FAILED
        assert c.get_state(BAD_STARTED).frame == 400  # a recording damaged in its header still replays
    log = "\n".join(daemon.output)
    for bad in (BAD_STARTED, NULL_STARTED, FLIPPED, NO_HEADER, GARBAGE):
        assert f"archive: match {bad}: its recording is damaged: " in log, bad
    assert "archive: 7 recorded matches" in log and "every record's checksum checked; 5 of them damaged" in log
    listing = cli(daemon, "recordings", "list")
    assert listing.returncode == 0 and "5 of 7 recordings are damaged" in listing.stderr
    line = next(x for x in listing.stdout.splitlines() if x.startswith(FLIPPED))
    assert "FAILED" in line and f"{last_good:>10}" in line and "DAMAGED: record " in line and where in line


def http(daemon, path: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(f"http://{daemon.http}{path}", timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_the_timeline_and_the_recorded_updates_agree_on_a_damaged_recording(restarted):
    daemon, last_good = restarted["daemon"], restarted["flipped_at"][1]
    status, _, body = http(daemon, f"/api/matches/{FLIPPED}/timeline")
    t = json.loads(body)
    assert status == 200 and t["last_frame"] == last_good and t["first_frame"] == 1
    assert t["problem"].endswith(f"at byte {restarted['flipped_at'][0]} is corrupt (checksum mismatch)")
    status, headers, body = http(daemon, f"/api/matches/{FLIPPED}/updates?from_frame={last_good - 10}&frames=5000")
    assert status == 200 and headers["X-Last-Frame"] == str(last_good) and t["problem"] in headers["X-Recording-Problem"]
    status, _, body = http(daemon, f"/api/matches/{FLIPPED}/updates?from_frame={last_good + 1}")
    assert status == 422 and t["problem"] in body.decode()
    whole = json.loads(http(daemon, f"/api/matches/{restarted['finished']}/timeline")[2])
    assert whole["problem"] == "" and whole["last_frame"] == 400
    status, _, body = http(daemon, f"/api/matches/{NO_HEADER}/timeline")
    assert status == 200 and json.loads(body)["problem"] == "the recording has no header record"
    status, _, body = http(daemon, f"/api/matches/{NO_HEADER}/updates")
    assert status == 422 and "no metadata record" in body.decode()


def test_reproduce_and_diff_say_which_recording_is_damaged_and_how(restarted):
    daemon = restarted["daemon"]
    out = cli(daemon, "reproduce", NO_HEADER)
    assert out.returncode == 1 and "REALTIME" not in out.stderr
    assert "the recording is damaged (it has no header record): it cannot be reproduced" in out.stderr
    out = cli(daemon, "diff", restarted["finished"], NO_HEADER)
    assert out.returncode == 1 and "different maps" not in out.stderr
    assert f"the second recording ({NO_HEADER}) is damaged (it has no header record)" in out.stderr
    out = cli(daemon, "diff", FLIPPED, restarted["finished"])
    assert out.returncode == 1 and f"the first recording ({FLIPPED}) is damaged (record " in out.stderr


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
    near = "the archive nears its bound"
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
        # Near its bound from the start on: said once, not again at each match's end.
        warned = [line for line in again.output if near in line]
        assert len(warned) == 1 and f"bound of {sizes[2] + sizes[1] + 1:,} bytes" in warned[0], warned
    finally:
        again.stop()
