"""The fake game itself (gametap.games.fake), without a process: its plane is deterministic,
its world core keeps keyframe + deltas == state and refuses bytes that break the protocol,
and its observer checks actions as the OpenArena hot path does."""
import math

import numpy as np
import pytest

from gametap.client import features
from gametap.client.world import World
from gametap.games.fake import frames
from gametap.games.fake.plane import Drive, Plane
from gametap.games.fake.world import FakeWorld
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp


def run_plane(seed: int, n: int = 400, **limits) -> tuple[Plane, bytes]:
    plane = Plane(seed, server_fps=20, **limits)
    plane.add("Sarge", 5), plane.add("Grism", 1)
    return plane, b"".join(frames.encode(plane.step()) for _ in range(n))


def applied(data: bytes, keyframe_interval: int = 50) -> tuple[FakeWorld, list]:
    world = FakeWorld(keyframe_interval, record=True)
    world.accept_frames()
    return world, world.feed(data)


def test_the_same_seed_makes_the_same_frames_and_bots_score():
    plane, first = run_plane(5)
    assert first == run_plane(5)[1] and first != run_plane(6)[1]
    assert sum(b.score for b in plane.bodies.values()) > 0


def test_an_agent_moves_the_way_it_looks():
    plane = Plane(1, server_fps=20)
    client = plane.add("agent", 3)
    body = plane.bodies[client]
    plane.drive(client, Drive(forward=1.0, right=0.0, yaw=90.0, pitch=0.0))
    x, y = body.x, body.y
    plane.step()
    assert math.isclose(body.x, x, abs_tol=1e-6) and math.isclose(body.y, min(1000.0, y + 16.0))  # 320 u/s, 50 ms


def test_keyframe_plus_deltas_is_the_state():
    world, items = applied(run_plane(5)[1])
    (kind, deltas, keyframes, records, reset), = items
    assert kind == world.FRAMES and reset and len(deltas) == 400
    assert [i for i, _ in keyframes] == [0, 49, 99, 149, 199, 249, 299, 349, 399]  # frame 1 (the reset), every 50th
    replay = World()
    replay.apply(opb.WorldUpdate.FromString(keyframes[0][1]))
    for raw in deltas[1:]:
        replay.apply(opb.WorldUpdate.FromString(raw))
    assert replay.state() == wpb.WorldState.FromString(world.state())
    assert len(records) > sum(map(len, deltas))  # every delta and keyframe, framed for the recording


def test_the_frame_that_ends_the_level_is_not_applied():
    plane, data = run_plane(5, n=600, frag_limit=1)
    world, items = applied(data)
    state = wpb.WorldState.FromString(world.state())
    assert world.level_exited and plane.exited
    assert state.match.phase == wpb.MATCH_PHASE_INTERMISSION and max(p.score for p in state.players) == 1
    assert state.frame == plane.intermission_at + 2  # the intermission's frames, up to the exit
    phases = [e.phase_change for raw in items[0][1] for e in opb.WorldUpdate.FromString(raw).delta.events
              if e.HasField("phase_change")]
    assert [p.reason for p in phases] == ["Fraglimit hit."]


@pytest.mark.parametrize("data, error", [
    (lp.HEADER.pack(0, 99, 0), "unknown message type 99"),
    (lp.HEADER.pack(0, lp.MsgType.FRAME, 1), "reserved header field"),
    (lp.encode_message(lp.MsgType.FRAME, b"\0" * 8), "shorter than its header"),
    (lp.encode_frame(1, n_players=2, n_entities=0), "truncated player records"),
])
def test_bytes_that_break_the_protocol_are_refused(data, error):
    _, items = applied(data)
    assert items[-1][0] == FakeWorld.BROKEN and error in items[-1][1]


def test_actions_are_checked_and_become_control_records():
    world, _ = applied(run_plane(5, n=3)[1])
    observer = world.observer(1)
    observer.set_slots([(0, False)])
    frame, records = observer.actions(apb.ActionBatch(frame=3, actions=[
        apb.Action(client=0, forward=1.0, strafe=-0.5, yaw=90.0)]).SerializeToString())
    client, flags, weapon, forward, right, up, buttons, pitch, yaw = lp.ACTION_RECORD.unpack(records)[:9]
    assert frame == 3 and (client, flags, weapon, buttons) == (0, lp.ActionFlags.OVERRIDE, 0, 0)
    assert (forward, right, up, pitch, yaw) == (127, -64, 0, 0, 16384)  # yaw 90 degrees: a quarter of 65536
    bad = [(apb.Action(client=1), "actions[0].client"), (apb.Action(client=0, forward=2), "actions[0].forward"),
               (apb.Action(client=0, pitch=91), "actions[0].pitch")]
    for action, field in bad:
        with pytest.raises(ValueError) as refused:
            observer.actions(apb.ActionBatch(actions=[action]).SerializeToString())
        assert refused.value.args[0] == field


def test_feature_observations_show_the_player_and_the_goal():
    world, _ = applied(run_plane(5, n=3)[1])
    observer = world.observer(1, structured=False, features=True)
    observer.set_slots([(1, False)])
    obs = apb.PlayResponse.FromString(observer.observe(False, 0, [])).observation
    row = np.frombuffer(obs.features, np.float32)
    me = wpb.WorldState.FromString(world.state()).players[1]
    assert row.size == features.SIZE and not obs.HasField("world")
    assert row[features.SELF.index("x")] == np.float32(me.origin.x / 1000)
    assert row[features.LAYOUT[1][1]] == 1.0 and row[features.LAYOUT[2][1]] == 1.0  # the other player; the goal
