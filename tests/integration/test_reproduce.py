"""Reproduce and diff (issue 9, item 3): a recorded agent match re-runs identically through its
last frame; diff names the frame and field where a changed copy parts, and the first frame
where two seeds part; bad inputs get clear errors."""
from __future__ import annotations

import subprocess
import sys
import zlib

import msgpack
import numpy as np
import pytest

from gametap.client import AgentStream
from gametap.client.envs import MatchSpec, OpenArenaVectorEnv
from gametap.recordings.diff import diff_recordings
from gametap.recordings.recording import MAGIC, RECORD_HEAD, iter_records, read_recording
from gametap.recordings.replay import frame_by_frame
from gametap.recordings.reproduce import reproduce
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def cli(daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gametap", *args, "--server", daemon.grpc], capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_a_recorded_agent_match_reproduces_identically(client, daemon):
    match = client.create_match(lockstep(bots=("Grism", "Sarge"), skill=2, hold_for_agents=1, seed=21))
    rng = np.random.default_rng(4)
    with AgentStream(client, match.id, [apb.SlotSpec(name="repro", bot="Major")], frames_per_step=2) as agents:
        me = agents.clients[0]
        agents.observe()
        for step in range(150):
            if step == 40:  # one step with no actions: the last ones stand
                agents.step([])
                continue
            f, s, j, yaw, pitch = rng.uniform(-1, 1, 5)
            agents.step([apb.Action(client=me, forward=f, strafe=s, jump=j, yaw=yaw * 180, pitch=pitch * 60,
                                    attack=step % 3 == 0, weapon=(0, 2, 3)[step % 3])])
    wait_until_frames(client, match.id, 40)  # it runs on free after the stream left, until stopped
    client.stop_match(match.id)
    last = wait_ended(client, match.id).frame
    out = cli(daemon, "reproduce", match.id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"identical through frame {last}" in out.stdout


def wait_until_frames(client, match_id: str, more: int) -> None:
    from gametap.testing import wait_until
    start = client.get_match(match_id).frame
    wait_until(lambda: client.get_match(match_id).frame > start + more, 30, "frames")


def test_vector_env_episodes_reproduce_from_their_action_rows(client, daemon):
    spec = MatchSpec(server=daemon.grpc, bots=(("Grism", 2, 0),), frames_per_step=2, max_steps=60)
    env = OpenArenaVectorEnv(num_envs=2, spec=spec, action_format="box")
    try:
        env.action_space.seed(5)
        _, info = env.reset(seed=8)
        ids = list(info["match_id"])
        for _ in range(60):  # the episodes end at max_steps: their members leave, their matches end
            env.step(env.action_space.sample())
    finally:
        env.close()
    for match_id in ids:
        assert wait_ended(client, match_id).status == mpb.STOPPED  # end_when_agents_leave
        result = reproduce(client, match_id)
        rec = read_recording(daemon.match_dir(match_id) / "updates.gtrec")
        assert any(e.HasField("step") and e.step.action_rows for e in rec.entries)  # PlayMany's flat rows
        assert result.identical, result.summary()
        assert result.diff.compared_through == client.get_match(match_id).frame
        assert result.diff.machines == []  # both recorded on this machine, with this software


def recorded(client, daemon, seed: int, frames: int = 600):
    match = client.create_match(lockstep(max_frames=frames, seed=seed))
    assert wait_ended(client, match.id).status == mpb.FINISHED
    return daemon.match_dir(match.id) / "updates.gtrec"


def rewrite(src, dest, change) -> None:
    """A copy of a recording with change(index, payload) -> payload applied to every record."""
    out = bytearray(MAGIC)
    with open(src, "rb") as f:
        for i, payload in enumerate(iter_records(f)):
            payload = change(i, payload)
            out += RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload
    dest.write_bytes(bytes(out))


def test_diff_names_the_frame_and_field_of_a_changed_value(client, daemon, tmp_path):
    original = recorded(client, daemon, seed=31)
    target = {}

    def change(i, payload):
        if i < 2 or target:
            return payload
        update = opb.WorldUpdate.FromString(payload)
        if not update.HasField("delta") or update.delta.frame < 300 or not update.delta.players:
            return payload
        p = update.delta.players[-1]
        p.origin.x += 1.5
        target.update(frame=update.delta.frame, client=p.client)
        return update.SerializeToString()

    copy = tmp_path / "changed.gtrec"
    rewrite(original, copy, change)
    out = cli(daemon, "diff", str(original), str(copy))
    assert out.returncode == 1, out.stderr
    assert f"first difference at frame {target['frame']}: players[{target['client']}].origin.x" in out.stdout
    same = cli(daemon, "diff", str(original), str(original))
    assert same.returncode == 0 and "identical through frame 600" in same.stdout


def state_at(path, frame: int) -> bytes:
    for at, _, world in frame_by_frame(path):
        if at == frame:
            return world.state().SerializeToString(deterministic=True)
    raise AssertionError(f"no frame {frame}")


def test_diff_of_two_seeds_names_the_first_frame_that_differs(client, daemon):
    a, b = recorded(client, daemon, seed=41), recorded(client, daemon, seed=42)
    result = diff_recordings(a, b)
    assert not result.identical and result.first_frame > 1 and result.fields
    f = result.first_frame
    assert state_at(a, f - 1) == state_at(b, f - 1) and state_at(a, f) != state_at(b, f)
    assert result.frames_differing > 100 and result.most_differing
    assert "first difference at frame" in result.summary()


def test_bad_inputs_get_clear_errors(client, daemon, tmp_path):
    garbage = tmp_path / "garbage.gtrec"
    garbage.write_bytes(b"not a recording at all")
    out = cli(daemon, "diff", str(garbage), str(garbage))
    assert out.returncode == 1 and "not a gametap recording" in out.stderr
    other_map = client.create_match(lockstep(bots=(), map="oa_dm2", max_frames=50))
    same_map = client.create_match(lockstep(bots=(), max_frames=50))
    for m in (other_map, same_map):
        wait_ended(client, m.id)
    out = cli(daemon, "diff", other_map.id, same_map.id)
    assert out.returncode == 1 and "different maps (oa_dm2 and oa_dm1)" in out.stderr
    realtime = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, max_frames=5))
    wait_ended(client, realtime.id)
    out = cli(daemon, "reproduce", realtime.id)
    assert out.returncode == 1 and "only a LOCKSTEP match can be reproduced" in out.stderr
    out = cli(daemon, "reproduce", "0123456789ab")
    assert out.returncode == 1 and "NOT_FOUND" in out.stderr
    assert not list(tmp_path.glob("*.part"))
    old = tmp_path / "v1.gtrec"  # a format-1 recording holds no actions
    head = msgpack.packb({"match_id": "x", "config": '{"clock": "LOCKSTEP"}'})
    old.write_bytes(MAGIC[:7] + b"\x01" + RECORD_HEAD.pack(len(head), zlib.crc32(head)) + head)
    from gametap.core.errors import FailedPrecondition
    from gametap.recordings.reproduce import plan
    with pytest.raises(FailedPrecondition, match="format 1"):
        plan(old)
