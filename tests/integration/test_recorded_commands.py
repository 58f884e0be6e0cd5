"""Every player's command is in the recording, as the game applied it (issue 9, item 1).

Bots: the game turns a player's view to its command's angles (pmove), so every living
player's recorded view angles must equal its recorded command's. Agents: the recorded
command equals the action the agent sent, converted as the hot path documents, and the
recording holds the stream's join and every ActionBatch it sent, at their frames.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gametap.client import AgentStream
from gametap.recordings.recording import read_recording
from gametap.recordings.replay import frame_by_frame
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def angle_units(degrees: float) -> int:
    """An absolute angle in the game's 16-bit units, as native/hotpath/actions.c makes it."""
    return int(float(np.float32(degrees)) * 65536 / 360) & 0xFFFF


def move_units(v: float) -> int:
    return int(max(-127, min(127, np.rint(float(np.float32(v)) * 127))))


def off_by(a_degrees: float, b_units: int) -> float:
    """Degrees between a view angle and a command angle, modulo a turn."""
    return abs((a_degrees - b_units * 360 / 65536 + 180) % 360 - 180)


def pitch_view(units: int) -> int:
    """The pitch pmove turns to for a command's: clamped to +-16000 units (bg_pmove.c,
    PM_UpdateViewAngles), so a player never looks past straight up or down."""
    signed = units - 65536 if units >= 32768 else units
    return max(-16000, min(16000, signed)) & 0xFFFF


def states(path):
    """(frame, World) at each recorded frame."""
    return ((frame, world) for frame, _, world in frame_by_frame(path))


def test_every_bots_command_is_recorded_as_the_game_applied_it(client, daemon):
    match = client.create_match(lockstep(max_frames=1200, seed=41))
    assert wait_ended(client, match.id).status == mpb.FINISHED
    checked, commanded = 0, set()
    for frame, world in states(daemon.match_dir(match.id) / "updates.gtrec"):
        for p in world.players.values():
            if not p.HasField("command"):
                continue
            commanded.add(p.client)
            if p.alive:
                assert off_by(p.view_angles.y, p.command.yaw) < 0.01, (frame, p.client, p.view_angles, p.command)
                assert off_by(p.view_angles.x, pitch_view(p.command.pitch)) < 0.01, (frame, p.client, p.view_angles, p.command)
                checked += 1
    assert len(commanded) == 4 and checked > 4 * 1000  # every bot, nearly every frame
    rec = read_recording(daemon.match_dir(match.id) / "updates.gtrec")
    moving = sum(1 for u in rec.updates if b"\xaa\x01" in u)  # Player.command's tag appears in deltas
    assert moving > 500


def test_an_agents_recorded_commands_equal_the_actions_it_sent(client, daemon):
    match = client.create_match(lockstep(bots=("Grism",), skill=1, hold_for_agents=1, seed=12, max_frames=5000))
    sent: dict[int, apb.ActionBatch] = {}
    spec = apb.SlotSpec(name="recorded", bot="Sarge")
    with AgentStream(client, match.id, [spec], frames_per_step=2, action_timeout_ms=20000) as agents:
        me = agents.clients[0]
        agents.observe()
        for step in range(60):
            action = apb.Action(client=me, forward=math.sin(step) * 0.9, strafe=(step % 3 - 1) * 0.5,
                                jump=(-1.0, 0.0, 0.7)[step % 3], yaw=-170.0 + step * 13.7,
                                pitch=-40.0 + (step * 7) % 80, attack=step % 4 == 0,
                                weapon=(0, 2)[step % 2])
            sent[agents.frame] = apb.ActionBatch(frame=agents.frame, actions=[action])
            agents.step([action])
    client.stop_match(match.id)
    wait_ended(client, match.id)
    path = daemon.match_dir(match.id) / "updates.gtrec"
    rec = read_recording(path)

    joins = [e.join for e in rec.entries if e.HasField("join")]
    assert len(joins) == 1 and list(joins[0].clients) == [me] and joins[0].stream == 1
    assert joins[0].join.slots[0] == spec and joins[0].join.frames_per_step == 2
    assert joins[0].join.action_timeout_ms == 20000
    steps = {e.step.frame: e.step.actions for e in rec.entries if e.HasField("step")}
    assert steps == sent  # every ActionBatch, as sent, at the frame it answered

    by_frame = {}
    for frame, world in states(path):
        by_frame[frame] = world.players[me].command if me in world.players else None
    for frame, batch in sent.items():
        a = batch.actions[0]
        for applied in (frame + 1, frame + 2):  # the action holds for frames_per_step frames
            cmd = by_frame[applied]
            assert (cmd.forward, cmd.right, cmd.up) == (move_units(a.forward), move_units(a.strafe), move_units(a.jump))
            assert (cmd.yaw, cmd.pitch, cmd.roll) == (angle_units(a.yaw), angle_units(a.pitch), 0)
            assert (cmd.buttons & 1, cmd.weapon) == (int(a.attack), a.weapon), (frame, cmd)
    assert rec.end is not None and rec.end.status == mpb.STOPPED


def test_a_recording_says_where_it_came_from(client, daemon):
    import hashlib
    import json
    import socket
    import subprocess

    import gametap
    from gametap.q3 import abi

    match = client.create_match(lockstep(bots=("Grism",), max_frames=50, seed=99))
    final = wait_ended(client, match.id)
    rec = read_recording(daemon.match_dir(match.id) / "updates.gtrec")
    head = rec.metadata
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert head["commit"].removesuffix("+dirty") == commit and head["gametap_version"] == gametap.__version__
    assert head["host"] == socket.gethostname() and head["match_id"] == match.id and head["seed"] == 99
    assert json.loads(head["config"])["maxFrames"] == "50" and head["map"] == "oa_dm1"
    pk3 = head["map_pk3"]
    assert pk3.endswith(".pk3") and head["map_pk3_sha256"] == hashlib.sha256(open(pk3, "rb").read()).hexdigest()
    assert rec.module.path.endswith("qagamex86_64.so") and rec.module.build_id in abi.KNOWN_MODULES
    assert rec.end.status == mpb.FINISHED and rec.end.frame == final.frame == 50
    assert head["started"] <= rec.end.ended_unix_s
