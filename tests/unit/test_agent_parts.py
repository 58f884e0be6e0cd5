"""Agent pieces without the game: actions <-> usercmds, span views, features."""
import math

import numpy as np
import pytest

from gametap.agents import actions as act
from gametap.agents.views import FrameDeltaView, SpanView
from gametap.client import features
from gametap.client.world import World
from gametap.errors import InvalidArgument
from gametap.q3 import abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.q3.world import WorldBuilder
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import observe_pb2 as opb

from .test_world_builder import entity, first_frame, frame, player


def test_action_records_carry_the_command():
    (rec,) = act.records([apb.Action(client=3, forward=1.0, strafe=-0.5, jump=-1.0, yaw=90.0, pitch=-45.0,
                                     attack=True, weapon=5)], {3: True})
    client, flags, weapon, fwd, right, up, buttons, pitch, yaw, roll = rec
    assert (client, weapon, fwd, right, up, buttons) == (3, 5, 127, -64, -127, 1)
    assert flags == act.ActionFlags.OVERRIDE | act.ActionFlags.VISIBILITY
    assert (yaw, pitch, roll) == (16384, 65536 - 8192, 0)
    assert act.short_to_angle(yaw) == 90.0 and act.short_to_angle(pitch) == -45.0


@pytest.mark.parametrize("action, field", [
    (apb.Action(client=9), "actions[0].client"),
    (apb.Action(client=3, forward=1.01), "actions[0].forward"),
    (apb.Action(client=3, strafe=float("nan")), "actions[0].strafe"),
    (apb.Action(client=3, jump=-3), "actions[0].jump"),
    (apb.Action(client=3, yaw=float("-inf")), "actions[0].yaw"),
    (apb.Action(client=3, pitch=90.5), "actions[0].pitch"),
    (apb.Action(client=3, weapon=14), "actions[0].weapon"),
])
def test_bad_actions_name_their_field(action, field):
    with pytest.raises(InvalidArgument) as e:
        act.records([action], {3: False})
    assert e.value.field == field


def test_two_actions_for_one_slot():
    with pytest.raises(InvalidArgument, match="second action"):
        act.records([apb.Action(client=3), apb.Action(client=3)], {3: False})


def test_teacher_is_the_bot_command_in_agent_terms():
    usercmd = act.USERCMD.pack(1000, act.angle_to_short(10.0) - 500, act.angle_to_short(-120.0) - 700, 0,
                               act.BUTTON_ATTACK, 7, 127, -127, 0)
    t = apb.Action.FromString(act.teacher(4, usercmd, (500, 700, 0)))
    assert (t.client, t.forward, t.strafe, t.jump, t.attack, t.weapon) == (4, 1.0, -1.0, 0.0, True, 7)
    assert t.yaw == pytest.approx(-120.0, abs=0.01) and t.pitch == pytest.approx(10.0, abs=0.01)


def run_views(frames_per_observation: int, visible=None):
    b = WorldBuilder()
    span, world = SpanView(), World()
    full = World()
    frames = [first_frame()] + [frame(n, players=[player(0, origin=(n, 0, 0))],
                                      entities=[entity(70 + n % 4)], log="Item: 0 item_health\n")
                                for n in range(2, 30)]
    events_seen = 0
    for i, u in enumerate(b.apply(frames)):
        full.apply(opb.WorldUpdate.FromString(u.keyframe if i == 0 else u.delta))
        span.add_events(u.events)
        if (i + 1) % frames_per_observation == 0 or i == len(frames) - 1:
            update = opb.WorldUpdate.FromString(span.observe(b, u, visible))
            world.apply(update)
            if update.WhichOneof("update") == "delta":
                events_seen += sum(e.HasField("item_pickup") for e in update.delta.events)
    return world, full, events_seen


def test_span_view_every_k_frames_matches_the_state_and_keeps_every_event():
    world, full, events = run_views(4)
    assert world.state().SerializeToString(deterministic=True) == full.state().SerializeToString(deterministic=True)
    assert events == 28 - 3  # one pickup per frame after the first observation


def test_span_view_limited_to_a_visible_set():
    world, full, _ = run_views(3, visible={0, 71, 72})
    assert set(world.players) == {0} and set(world.entities) <= {71, 72}
    assert world.players[0] == full.players[0]


def test_frame_delta_view_resyncs_with_a_keyframe_after_a_gap():
    b = WorldBuilder()
    view = FrameDeltaView()
    ups = b.apply([first_frame(), frame(2), frame(3)])
    assert opb.WorldUpdate.FromString(view.observe(b, ups[-1])).WhichOneof("update") == "keyframe"
    (u4,) = b.apply([frame(4)])
    assert view.observe(b, u4) is u4.delta
    b.apply([frame(5)])
    (u6,) = b.apply([frame(6)])
    assert opb.WorldUpdate.FromString(view.observe(b, u6)).WhichOneof("update") == "keyframe"


def test_features_layout_and_values():
    w = World()
    me = wpb.Player(client=0, health=50, alive=True, team=wpb.TEAM_FREE, weapon=wpb.WEAPON_MACHINEGUN,
                    ammo=[0, -1, 80] + [0] * 11, origin=wpb.Vec3(x=100, y=0, z=0), view_angles=wpb.Vec3(y=90))
    ahead = wpb.Player(client=1, health=100, alive=True, team=wpb.TEAM_FREE, origin=wpb.Vec3(x=100, y=1000, z=0))
    w.players = {0: me, 1: ahead}
    w.entities = {70: wpb.Entity(number=70, type=wpb.ENTITY_TYPE_ITEM, item_type=wpb.ITEM_TYPE_HEALTH,
                                 origin=wpb.Vec3(x=-900, y=0, z=0)),
                  71: wpb.Entity(number=71, type=wpb.ENTITY_TYPE_ITEM, hidden=True)}
    f = features.encode(w, 0)
    assert f.shape == (features.SIZE,) and f.dtype == np.float32
    self_part = dict(zip(features.SELF, f[: len(features.SELF)]))
    assert self_part["health"] == 0.5 and self_part["ammo"] == 0.8 and self_part["alive"] == 1.0
    assert self_part["sin_yaw"] == pytest.approx(1.0)
    p0 = dict(zip(features.PLAYER, f[features.LAYOUT[1][1]:][: len(features.PLAYER)]))
    assert p0["present"] == 1 and p0["forward"] == pytest.approx(1.0, abs=1e-5) and p0["left"] == pytest.approx(0, abs=1e-5)
    assert p0["enemy"] == 1
    i0 = dict(zip(features.ITEM, f[features.LAYOUT[2][1]:][: len(features.ITEM)]))
    assert i0["present"] == 1 and i0["is_health"] == 1 and i0["left"] == pytest.approx(1.0, abs=1e-5)
    second_item = f[features.LAYOUT[2][1] + len(features.ITEM):][: len(features.ITEM)]
    assert not second_item.any()  # the hidden item is not there
    assert np.all(np.abs(f) <= features.LIMIT)
    assert not features.encode(w, 5).any()  # not in the world: all zeros
    assert math.isclose(sum(n for _, _, n in features.LAYOUT), features.SIZE)


def test_record_of_a_full_stream_slot_has_no_visibility_flag():
    (rec,) = act.records([apb.Action(client=1)], {1: False})
    assert rec[1] == act.ActionFlags.OVERRIDE
    assert abi.NUM_WEAPONS == 14
