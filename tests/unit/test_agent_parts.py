"""Agent pieces of the hot path without the game: actions -> CONTROL records, the teacher,
views every k frames and limited to what a slot sees, and feature tensors (C == reference)."""
import math
import random
import struct

import numpy as np
import pytest

from gametap.client import features
from gametap.client.world import World
from gametap.q3 import _hotpath, abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp

from .test_world_builder import WorldBuilder, entity, first_frame, frame, player


def observer(slots, frames_per_step=1, structured=True, feats=False, builder=None):
    b = builder or WorldBuilder()
    o = b.world.observer(frames_per_step, structured, feats)
    o.set_slots(slots)
    return b, o


def records(o, actions, frame=0):
    got_frame, raw = o.actions(apb.ActionBatch(frame=frame, actions=actions).SerializeToString())
    assert got_frame == frame
    return [lp.ACTION_RECORD.unpack_from(raw, i) for i in range(0, len(raw), lp.ACTION_RECORD.size)]


def short_to_angle(units):
    degrees = units * 360.0 / 65536
    return degrees - 360.0 if degrees > 180.0 else degrees


def observation(o, final=False, game_us=0, left=()):
    return apb.PlayResponse.FromString(o.observe(final, game_us, list(left))).observation


def test_action_records_carry_the_command():
    _, o = observer([(3, True)])
    (rec,) = records(o, [apb.Action(client=3, forward=1.0, strafe=-0.5, jump=-1.0, yaw=90.0, pitch=-45.0,
                                    attack=True, weapon=5)], frame=12)
    client, flags, weapon, fwd, right, up, buttons, pitch, yaw, roll, reserved = rec
    assert (client, weapon, fwd, right, up, buttons) == (3, 5, 127, -64, -127, 1)
    assert flags == lp.ActionFlags.OVERRIDE | lp.ActionFlags.VISIBILITY
    assert (yaw, pitch, roll, reserved) == (16384, 65536 - 8192, 0, 0)
    assert short_to_angle(yaw) == 90.0 and short_to_angle(pitch) == -45.0


@pytest.mark.parametrize("action, field", [
    (apb.Action(client=9), "actions[0].client"),
    (apb.Action(client=3, forward=1.01), "actions[0].forward"),
    (apb.Action(client=3, strafe=float("nan")), "actions[0].strafe"),
    (apb.Action(client=3, jump=-3), "actions[0].jump"),
    (apb.Action(client=3, yaw=float("-inf")), "actions[0].yaw"),
    (apb.Action(client=3, pitch=90.5), "actions[0].pitch"),
    (apb.Action(client=3, weapon=14), "actions[0].weapon"),
    (apb.Action(client=-1), "actions[0].client"),
])
def test_bad_actions_name_their_field(action, field):
    _, o = observer([(3, False)])
    with pytest.raises(_hotpath.InvalidField) as e:
        records(o, [action])
    assert e.value.args[0] == field


def test_refusals_say_what_is_wrong():
    _, o = observer([(3, False), (1, False)])
    with pytest.raises(_hotpath.InvalidField) as e:
        records(o, [apb.Action(client=9)])
    assert e.value.args[1] == "9 is not one of this stream's slots [1, 3]"
    with pytest.raises(_hotpath.InvalidField) as e:
        records(o, [apb.Action(client=3, forward=1.01)])
    assert e.value.args[1] == f"{np.float32(1.01).item()!r} is outside -1..1"
    with pytest.raises(_hotpath.InvalidField, match="second action"):
        records(o, [apb.Action(client=3), apb.Action(client=3)])


def test_malformed_or_unknown_parts_of_an_action_batch():
    _, o = observer([(3, False)])
    with pytest.raises(_hotpath.InvalidField) as e:
        o.actions(b"\x12\x05\x08")  # an action cut short
    assert e.value.args[0] == "act"
    # an unknown field, and a known field with another wire type: skipped, as protobuf does
    batch = apb.ActionBatch(frame=4, actions=[apb.Action(client=3, forward=0.5)]).SerializeToString()
    frame, raw = o.actions(b"\xf8\x07\x01" + b"\x15\x00\x00\x00\x00" + batch)
    assert frame == 4 and lp.ACTION_RECORD.unpack(raw)[3] == 64
    assert o.actions(b"")[1] == b""  # no actions: every slot keeps its last


def test_random_bytes_as_actions_never_crash():
    _, o = observer([(3, False)])
    rng = random.Random(3)
    for _ in range(3000):
        try:
            o.actions(rng.randbytes(rng.randint(0, 60)))
        except _hotpath.InvalidField:
            pass


def rows(*values) -> bytes:
    return np.array(values, "<f4").tobytes()


def test_action_rows_make_the_same_records_as_action_batches():
    _, o = observer([(3, True), (1, False)])
    batch = records(o, [apb.Action(client=3, forward=1.0, strafe=-0.5, jump=-1.0, yaw=90.0, pitch=-45.0,
                                   attack=True, weapon=5), apb.Action(client=1, yaw=-30.0)])
    flat = o.action_rows(rows(1.0, -0.5, -1.0, 90.0, -45.0, 1.0, 5.0, 0, 0, 0, -30.0, 0, 0, 0))
    assert [lp.ACTION_RECORD.unpack_from(flat, i) for i in range(0, len(flat), lp.ACTION_RECORD.size)] == batch
    assert apb.ACTION_ROW_SIZE == 7
    unaligned = bytearray(b"x" + rows(*[0.0] * 14))  # a buffer that is not 4-aligned is read as well
    assert len(o.action_rows(memoryview(unaligned)[1:])) == 2 * lp.ACTION_RECORD.size


@pytest.mark.parametrize("values, field, message", [
    ((0.0,) * 7, "action_rows", "7 values for 2 slots; expected 7 per slot"),
    ((0.0,) * 15, "action_rows", "14 values for 2 slots; expected 7 per slot"),  # cut mid-value
    ((0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0), "action_rows[1].forward", "2.0 is outside -1..1"),
    ((float("nan"),) + (0.0,) * 13, "action_rows[0].forward", "nan is outside -1..1"),
    ((0, 0, 0, 0, 91, 0, 0) + (0.0,) * 7, "action_rows[0].pitch", "91.0 is not an angle within +-90 degrees"),
    ((0, 0, 0, 0, 0, 0, 14) + (0.0,) * 7, "action_rows[0].weapon", "14.0 is not a Weapon number (0..13)"),
    ((0, 0, 0, 0, 0, 0, 2.5) + (0.0,) * 7, "action_rows[0].weapon", "2.5 is not a Weapon number (0..13)"),
    ((0, 0, 0, 0, 0, float("nan"), 0) + (0.0,) * 7, "action_rows[0].attack", "nan is not a number"),  # issue 20
    ((0.0,) * 7 + (0, 0, 0, 0, 0, float("-inf"), 0), "action_rows[1].attack", "-inf is not a number"),
])
def test_bad_action_rows_name_their_field(values, field, message):
    _, o = observer([(3, False), (1, False)])
    with pytest.raises(_hotpath.InvalidField) as e:
        o.action_rows(rows(*values)[: len(values) * 4 - (1 if len(values) == 15 else 0)])
    assert e.value.args[0] == field and message in e.value.args[1]


def test_random_bytes_as_action_rows_never_crash():
    _, o = observer([(3, False), (1, True)])
    rng = random.Random(4)
    for _ in range(3000):
        try:
            o.action_rows(rng.randbytes(rng.choice((56, rng.randint(0, 80)))))
        except _hotpath.InvalidField:
            pass


def test_hold_records_keep_the_players_view():
    b, o = observer([(0, False), (1, True)])
    b.apply([first_frame()])
    raw = o.hold_records()
    recs = [lp.ACTION_RECORD.unpack_from(raw, i) for i in range(0, len(raw), lp.ACTION_RECORD.size)]
    assert [(r[0], r[1], r[3], r[6]) for r in recs] == [(0, 1, 0, 0), (1, 3, 0, 0)]
    assert short_to_angle(recs[0][8]) == pytest.approx(90.0, abs=0.01)  # the player's yaw
    assert short_to_angle(recs[0][7]) == pytest.approx(10.0, abs=0.01)  # and pitch


def test_teacher_is_the_bot_command_in_agent_terms():
    b, o = observer([(0, False)])
    ps = np.frombuffer(player(0), abi.PLAYER_RECORD).copy()
    ps["ps"]["delta_angles"] = (500, 700, 0)
    usercmd = np.zeros(1, abi.USERCMD)
    usercmd["angles"] = (int(10.0 * 65536 / 360) - 500, int(-120.0 * 65536 / 360) - 700, 0)
    usercmd["buttons"] = abi.BUTTON_ATTACK
    usercmd["weapon"], usercmd["forwardmove"], usercmd["rightmove"] = 7, 127, -127
    b.apply([first_frame(), frame(2, players=[ps.tobytes()], usercmds={0: usercmd.tobytes()})])
    (slot,) = observation(o).slots
    t = slot.teacher
    assert slot.has_teacher and (t.client, t.forward, t.strafe, t.jump, t.attack, t.weapon) == (0, 1.0, -1.0, 0.0, True, 7)
    assert t.yaw == pytest.approx(-120.0, abs=0.01) and t.pitch == pytest.approx(10.0, abs=0.01)


def run_views(frames_per_observation: int, visible=None):
    b, o = observer([(0, visible is not None)], frames_per_step=frames_per_observation)
    world, full = World(), World()
    frames = [first_frame()] + [frame(n, players=[player(0, origin=(n, 0, 0))], entities=[entity(70 + n % 4)],
                                      log="Item: 0 item_health\n", visibility={0: sorted(visible or ())})
                                for n in range(2, 30)]
    events_seen = 0
    for i, f in enumerate(frames):
        (u,) = b.apply([f])
        full.apply(opb.WorldUpdate.FromString(u.keyframe if i == 0 else u.delta))
        if (i + 1) % frames_per_observation == 0 or i == len(frames) - 1:
            obs = observation(o)
            update = obs.slots[0].view if visible is not None else obs.world
            world.apply(update)
            if update.WhichOneof("update") == "delta":
                events_seen += sum(e.HasField("item_pickup") for e in update.delta.events)
    return world, full, events_seen


def test_span_view_every_k_frames_matches_the_state_and_keeps_every_event():
    world, full, events = run_views(4)
    assert world.state().SerializeToString(deterministic=True) == full.state().SerializeToString(deterministic=True)
    assert events == 28 - 3  # one pickup per frame after the first observation


def test_span_view_limited_to_a_visible_set():
    world, full, _ = run_views(3, visible={71, 72})
    assert set(world.players) == {0} and set(world.entities) <= {71, 72}  # its own player is always seen
    assert world.players[0] == full.players[0]


def test_frame_delta_view_resyncs_with_a_keyframe_after_a_gap():
    b, o = observer([(0, False)])
    ups = b.apply([first_frame(), frame(2), frame(3)])
    assert observation(o).world.WhichOneof("update") == "keyframe"
    (u4,) = b.apply([frame(4)])
    assert observation(o).world.SerializeToString() == opb.WorldUpdate.FromString(u4.delta).SerializeToString()
    b.apply([frame(5)])
    b.apply([frame(6)])
    assert observation(o).world.WhichOneof("update") == "keyframe"
    assert ups


def test_observation_fields():
    b, o = observer([(0, False), (-1, False)], feats=True)
    b.apply([first_frame()])
    obs = observation(o, final=True, game_us=1234, left=[5])
    assert (obs.frame, obs.level_time_ms, obs.final, list(obs.left), obs.game_us) == (1, 50, True, [5], 1234)
    assert [s.client for s in obs.slots] == [0]  # a slot not in the game yet has no entry
    assert len(obs.features) == 4 * features.SIZE


def test_features_only_observations_carry_no_world():
    b, o = observer([(0, False), (1, True)], structured=False, feats=True)
    b.apply([first_frame()])
    obs = observation(o)
    assert not obs.HasField("world") and not any(s.HasField("view") for s in obs.slots)
    assert np.frombuffer(obs.features, np.float32).shape == (2 * features.SIZE,)


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


def random_frames(rng: random.Random, n_frames: int):
    """Frames with players and items moving about at random (some hidden, some at equal distances)."""
    frames = [first_frame()]
    names = [(abi.CS_PLAYERS + c, f"n\\P{c}\\t\\0" + ("\\skill\\2" if c % 2 else "")) for c in range(2, 9)]
    for n in range(2, n_frames + 2):
        players = [player(c, origin=(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000), rng.choice((0.0, 40.0))),
                          health=rng.randint(-20, 150), score=rng.randint(-3, 30),
                          team=rng.choice((abi.TEAM_FREE, abi.TEAM_FREE, abi.TEAM_SPECTATOR)),
                          weapon=rng.randint(0, 13))
                   for c in range(0, 9) if rng.random() < 0.7]
        raw = np.frombuffer(b"".join(players), abi.PLAYER_RECORD).copy()
        raw["ps"]["viewangles"][:, 1] = [rng.uniform(-180, 180) for _ in range(len(raw))]
        raw["ps"]["viewangles"][:, 0] = [rng.uniform(-89, 89) for _ in range(len(raw))]
        raw["ps"]["velocity"][:, 0] = [rng.uniform(-400, 400) for _ in range(len(raw))]
        items = [entity(e, modelindex=rng.choice((5, 12, 2, 30)), origin=(rng.uniform(-2000, 2000), 100.0, 0.0),
                        eflags=abi.EF_NODRAW if rng.random() < 0.2 else 0) for e in range(70, 85) if rng.random() < 0.5]
        frames.append(frame(n, players=[raw.tobytes()], entities=items, configstrings=names if n == 2 else (),
                            visibility={0: sorted(rng.sample(range(1, 85), 30))}))
    return frames


@pytest.mark.parametrize("pvs", [False, True])
def test_feature_tensor_equals_the_reference_bit_for_bit(pvs):
    rng = random.Random(5 + pvs)
    clients = [0, 1, 4]
    b, o = observer([(c, pvs and c == 0) for c in clients], feats=True)
    world = World()
    views = {}
    compared = busy = 0
    for i, f in enumerate(random_frames(rng, 60)):
        (u,) = b.apply([f])
        world.apply(opb.WorldUpdate.FromString(u.keyframe if i == 0 else u.delta))
        obs = observation(o)
        rows = np.frombuffer(obs.features, np.float32).reshape(len(obs.slots), features.SIZE)
        for slot, row in zip(obs.slots, rows):
            if slot.HasField("view"):
                views.setdefault(slot.client, World()).apply(slot.view)
            seen = views.get(slot.client, world)
            assert row.tobytes() == features.encode(seen, slot.client).tobytes(), (i, slot.client)
            compared += 1
            busy += bool(row[features.LAYOUT[1][1]]) and bool(row[features.LAYOUT[2][1]])
    assert compared > 100 and busy > compared // 3  # rows with other players and items in them


def test_equal_distances_go_to_the_lower_number():
    b, o = observer([(0, False)], feats=True)
    b.apply([first_frame(), frame(2, entities=[entity(90, origin=(1.0, 2.0, 3.0 + 100)), entity(80, origin=(1.0, 2.0, 3.0 - 100))])])
    row = np.frombuffer(observation(o).features, np.float32)
    items = row[features.LAYOUT[2][1]:].reshape(features.NEAREST_ITEMS, len(features.ITEM))
    present = [r for r in items if r[0]]
    assert len(present) == 3 and present[1][4] == present[2][4]  # 80 and 90 are as far away
    assert (present[1][3], present[2][3]) == (np.float32(-0.1), np.float32(0.1))  # 80 (below) first
    ref = World()
    ref.apply(opb.WorldUpdate.FromString(b.world.keyframe()))
    assert row.tobytes() == features.encode(ref, 0).tobytes()


def test_record_of_a_full_stream_slot_has_no_visibility_flag():
    _, o = observer([(1, False)])
    (rec,) = records(o, [apb.Action(client=1)])
    assert rec[1] == lp.ActionFlags.OVERRIDE
    assert abi.NUM_WEAPONS == 14
    assert struct.calcsize("<BBBbbbHHHHH") == lp.ACTION_RECORD.size


def test_a_dropped_realtime_observation_is_said_and_keeps_its_time():
    """A slow REALTIME agent's observation is dropped: observe() says so and observed_at stays
    that of the last one sent, so the host's step time (observed_at - acted_at) is never taken
    from a stale observation."""
    import asyncio

    from gametap.worker.agents.session import REALTIME_OUTBOX_LIMIT, AgentSession

    async def main():
        b, o = observer([(0, False)])
        b.apply([first_frame()])
        session = AgentSession(slots=[], frames_per_step=1, timeout_s=1.0, realtime=True, observer=o)
        for n in range(REALTIME_OUTBOX_LIMIT):
            assert session.observe(n) is True
        sent_at = session.observed_at
        assert sent_at > 0 and session.last_obs == REALTIME_OUTBOX_LIMIT - 1
        assert session.observe(REALTIME_OUTBOX_LIMIT) is False  # its outbox is full: dropped, resynced
        assert session.observed_at == sent_at and session.last_obs == REALTIME_OUTBOX_LIMIT - 1

    asyncio.run(main())
