"""The hot path's world (native/hotpath, gametap.q3._hotpath.World) on synthesized raw
frames fed as link bytes: deltas, keyframes, events, and the keyframe + deltas == state
invariant (the integration tests check it on the real game)."""
from dataclasses import dataclass

import numpy as np
import pytest

from gametap.client.world import World, WorldError
from gametap.q3 import _hotpath, abi
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp
from gametap.worker.link.protocol import FrameFlags


@dataclass
class Update:
    frame: int
    delta: bytes
    keyframe: bytes | None


class WorldBuilder:
    """The hot path's World, fed frames as the game sends them."""

    def __init__(self, keyframe_interval=100):
        self.world = _hotpath.World(keyframe_interval, True)
        self.world.accept_frames()

    def apply(self, frames: list[bytes]) -> list[Update]:
        out = []
        for item in self.world.feed(b"".join(frames)):
            assert item[0] == self.world.FRAMES, item
            _, deltas, keyframes, records, _ = item
            by_index = dict(keyframes)
            out += [Update(opb.WorldUpdate.FromString(d).delta.frame, d, by_index.get(i)) for i, d in enumerate(deltas)]
        return out

    def __getattr__(self, name):
        return getattr(self.world, name)

SERVERINFO = r"\mapname\oa_dm1\g_gametype\0\fraglimit\10\timelimit\5\capturelimit\0"


def player(client, origin=(1.0, 2.0, 3.0), health=100, score=0, team=abi.TEAM_FREE, weapon=2):
    r = np.zeros(1, abi.PLAYER_RECORD)
    r["client"] = client
    ps = r["ps"][0]
    ps["origin"] = origin
    ps["viewangles"] = (10.0, 90.0, 0.0)
    ps["stats"][abi.STAT_HEALTH] = health
    ps["stats"][abi.STAT_ARMOR] = 5
    ps["stats"][abi.STAT_WEAPONS] = (1 << 1) | (1 << weapon)
    ps["persistant"][abi.PERS_SCORE] = score
    ps["persistant"][abi.PERS_TEAM] = team
    ps["weapon"] = weapon
    ps["ammo"][weapon] = 50
    ps["groundEntityNum"] = abi.ENTITYNUM_WORLD
    ps["pm_type"] = abi.PM_DEAD if health <= 0 else abi.PM_NORMAL
    return r.tobytes()


def entity(number, etype=abi.ET_ITEM, modelindex=12, origin=(5.0, 6.0, 7.0), linked=1, eflags=0, owner=abi.ENTITYNUM_NONE):
    r = np.zeros(1, abi.ENTITY_RECORD)
    r["number"] = number
    r["s"]["eType"] = etype
    r["s"]["eFlags"] = eflags
    r["s"]["modelindex"] = modelindex
    r["s"]["weapon"] = 5
    r["s"]["pos"]["trDelta"] = (900.0, 0.0, 0.0)
    r["r"]["linked"] = linked
    r["r"]["currentOrigin"] = origin
    r["r"]["ownerNum"] = owner
    return r.tobytes()


def frame(n, players=(), entities=(), configstrings=(), log="", reset=False, commands=(), **kw):
    flags = FrameFlags.CAPTURED | (FrameFlags.RESET if reset else 0)
    return lp.encode_frame(n, 50 * n, flags, players=b"".join(players), entities=b"".join(entities),
                           configstrings=list(configstrings), log=log, commands=list(commands), **kw)


def first_frame():
    return frame(1, players=[player(0), player(1, origin=(-50.0, 0.0, 0.0))],
                 entities=[entity(70), entity(80, etype=abi.ET_MISSILE, modelindex=0, owner=1)],
                 configstrings=[(abi.CS_SERVERINFO, SERVERINFO), (abi.CS_PLAYERS, r"n\Grism^7\t\0\skill\ 2.00"),
                                (abi.CS_PLAYERS + 1, r"n\Visitor\t\0")],
                 reset=True)


def parse(update_bytes):
    return opb.WorldUpdate.FromString(update_bytes)


def test_first_frame_carries_everything_and_a_keyframe():
    b = WorldBuilder(keyframe_interval=100)
    (u,) = b.apply([first_frame()])
    delta = parse(u.delta).delta
    assert delta.frame == 1 and delta.level_time_ms == 50
    assert [p.client for p in delta.players] == [0, 1]
    grism, visitor = delta.players
    assert (grism.name, grism.skill, grism.controller) == ("Grism", 2, wpb.CONTROLLER_BOT)
    assert (visitor.name, visitor.controller) == ("Visitor", wpb.CONTROLLER_HUMAN)
    assert (grism.origin.x, grism.origin.y, grism.origin.z) == (1.0, 2.0, 3.0)
    assert grism.view_angles.y == 90.0 and grism.health == 100 and grism.armor == 5
    assert grism.weapon == wpb.WEAPON_MACHINEGUN and grism.ammo[2] == 50 and len(grism.ammo) == 14
    assert grism.weapons_owned == 0b110 and grism.alive and grism.on_ground and grism.team == wpb.TEAM_FREE
    item, missile = delta.entities
    assert (item.number, item.type, item.item, item.item_type) == (70, wpb.ENTITY_TYPE_ITEM, "weapon_rocketlauncher", wpb.ITEM_TYPE_WEAPON)
    assert (missile.type, missile.owner, missile.weapon, missile.velocity.x) == (wpb.ENTITY_TYPE_MISSILE, 1, 5, 900.0)
    assert delta.match.map == "oa_dm1" and delta.match.frag_limit == 10 and delta.match.time_limit_s == 300
    assert {e.WhichOneof("kind") for e in delta.events} == {"join", "phase_change"}
    assert u.keyframe is not None
    keyframe = parse(u.keyframe).keyframe
    assert keyframe.frame == 1 and len(keyframe.players) == 2 and len(keyframe.entities) == 2


def test_deltas_hold_only_what_changed_and_events():
    b = WorldBuilder(keyframe_interval=100)
    b.apply([first_frame()])
    (u,) = b.apply([frame(2, players=[player(0, origin=(9.0, 2.0, 3.0)), player(1, origin=(-50.0, 0.0, 0.0))],
                          entities=[entity(80, linked=0)],
                          log="Kill: 0 1 7: Grism killed Visitor by MOD_ROCKET_SPLASH\nItem: 1 weapon_shotgun\nsay: Grism: hi there\n")])
    d = parse(u.delta).delta
    assert [p.client for p in d.players] == [0]  # client 1's record came again but did not change
    assert list(d.removed_entities) == [80] and not d.entities
    assert not d.HasField("match")
    kinds = [e.WhichOneof("kind") for e in d.events]
    assert kinds == ["kill", "item_pickup", "chat"]
    assert (d.events[0].kill.attacker, d.events[0].kill.victim, d.events[0].kill.means_of_death) == (0, 1, wpb.MEANS_OF_DEATH_ROCKET_SPLASH)
    assert d.events[1].item_pickup.item == "weapon_shotgun"
    assert (d.events[2].chat.client, d.events[2].chat.text) == (0, "hi there")
    assert u.keyframe is None


def test_world_kill_by_the_world_has_no_attacker():
    b = WorldBuilder()
    b.apply([first_frame()])
    (u,) = b.apply([frame(2, log="Kill: 1022 1 19: <world> killed Visitor by MOD_FALLING\n")])
    kill = parse(u.delta).delta.events[0].kill
    assert (kill.attacker, kill.victim, kill.means_of_death) == (-1, 1, wpb.MEANS_OF_DEATH_FALLING)


def test_log_lines_split_across_frames_are_joined():
    b = WorldBuilder()
    b.apply([first_frame()])
    (u1, u2) = b.apply([frame(2, log="Kill: 0 1 "), frame(3, log="10: Grism killed Visitor by MOD_RAILGUN\n")])
    assert not parse(u1.delta).delta.events
    assert parse(u2.delta).delta.events[0].kill.means_of_death == wpb.MEANS_OF_DEATH_RAILGUN


def test_player_leaving_is_removed_with_an_event():
    b = WorldBuilder()
    b.apply([first_frame()])
    (u,) = b.apply([frame(2, configstrings=[(abi.CS_PLAYERS + 1, "")])])
    d = parse(u.delta).delta
    assert list(d.removed_players) == [1]
    assert d.events[0].leave.client == 1


def test_intermission_reports_the_exit_reason():
    b = WorldBuilder()
    b.apply([first_frame()])
    b.apply([frame(2, log="Exit: Fraglimit hit.\n")])
    (u,) = b.apply([frame(3, configstrings=[(abi.CS_INTERMISSION, "1")])])
    d = parse(u.delta).delta
    assert d.match.phase == wpb.MATCH_PHASE_INTERMISSION
    change = d.events[0].phase_change
    assert (change.phase, change.reason) == (wpb.MATCH_PHASE_INTERMISSION, "Fraglimit hit.")


def test_reset_drops_what_the_game_did_not_send_again():
    b = WorldBuilder()
    b.apply([first_frame()])
    (u,) = b.apply([frame(2, players=[player(0)], entities=[entity(70)],
                          configstrings=[(abi.CS_SERVERINFO, SERVERINFO), (abi.CS_PLAYERS, r"n\Grism\t\0\skill\2")],
                          reset=True)])
    d = parse(u.delta).delta
    assert list(d.removed_entities) == [80]
    assert list(d.removed_players) == [1]
    assert u.keyframe is not None


def test_keyframes_follow_the_interval():
    b = WorldBuilder(keyframe_interval=3)
    ups = b.apply([first_frame()] + [frame(n) for n in range(2, 8)])
    assert [u.frame for u in ups if u.keyframe] == [1, 3, 6]


def test_keyframe_plus_deltas_equals_state():
    b = WorldBuilder(keyframe_interval=1000)
    frames = [first_frame()]
    for n in range(2, 40):
        frames.append(frame(n, players=[player(0, origin=(float(n), 0.0, 0.0), score=n // 10, health=100 - n)],
                            entities=[entity(70, eflags=abi.EF_NODRAW if n % 7 == 0 else 0),
                                      entity(90 + n % 3, etype=abi.ET_MISSILE, modelindex=0, origin=(n, n, n))],
                            log="Item: 0 item_health\n" if n % 5 == 0 else ""))
    world = World()
    for i, u in enumerate(b.apply(frames)):
        world.apply(parse(u.keyframe if i == 0 else u.delta))
    expected = wpb.WorldState.FromString(b.state())
    assert world.state().SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
    assert world.frame == 39 and world.players[0].origin.x == 39.0


def test_world_refuses_gaps_and_deltas_before_a_keyframe():
    b = WorldBuilder()
    ups = b.apply([first_frame(), frame(2), frame(3)])
    world = World()
    with pytest.raises(WorldError, match="before any keyframe"):
        world.apply(parse(ups[1].delta))
    world.apply(parse(ups[0].keyframe))
    with pytest.raises(WorldError, match="applies to frame 2, not to frame 1"):
        world.apply(parse(ups[2].delta))


def test_level_exit_ends_the_stream_before_the_games_score_reset():
    b = WorldBuilder()
    b.apply([first_frame(), frame(2, players=[player(0, score=5)])])
    ups = b.apply([frame(3, players=[player(0, score=0)], commands=["vstr nextmap\n"]), frame(4)])
    assert ups == [] and b.level_exited
    assert b.frame == 2
    assert wpb.WorldState.FromString(b.state()).players[0].score == 5
    assert b.apply([frame(5)]) == []


def usercmd(forward=0, right=0, up=0, buttons=0, weapon=0, angles=(0, 0, 0), server_time=0) -> bytes:
    cmd = np.zeros((), abi.USERCMD)
    cmd["serverTime"], cmd["angles"], cmd["buttons"], cmd["weapon"] = server_time, angles, buttons, weapon
    cmd["forwardmove"], cmd["rightmove"], cmd["upmove"] = forward, right, up
    return cmd.tobytes()


def test_a_players_applied_command_is_part_of_its_record_and_of_the_state():
    b = WorldBuilder(keyframe_interval=100)
    b.apply([first_frame()])
    cmd = usercmd(forward=-127, right=64, up=-1, buttons=17, weapon=5, angles=(65000, 16384, 0))
    (u,) = b.apply([frame(2, applied={1: cmd})])  # only the command changed
    d = parse(u.delta).delta
    assert [p.client for p in d.players] == [1]
    c = d.players[0].command
    assert (c.forward, c.right, c.up, c.buttons, c.weapon) == (-127, 64, -1, 17, wpb.WEAPON_ROCKET_LAUNCHER)
    assert (c.pitch, c.yaw, c.roll) == (65000, 16384, 0)
    state = wpb.WorldState.FromString(b.state())
    assert state.players[1].command == c and not state.players[0].HasField("command")
    (u,) = b.apply([frame(3, configstrings=[(abi.CS_PLAYERS + 1, "")])])  # the player leaves: so does its command
    (u,) = b.apply([frame(4, players=[player(1)], configstrings=[(abi.CS_PLAYERS + 1, r"n\Again\t\0")])])
    assert not parse(u.delta).delta.players[0].HasField("command")


def test_an_agents_slot_shows_its_teacher_and_what_it_sees_and_a_bots_does_not():
    b = WorldBuilder(keyframe_interval=100)
    b.apply([first_frame()])
    b.set_agent(1, True)
    teacher = usercmd(forward=64, buttons=1, weapon=3, angles=(100, 16384, 0))
    (u,) = b.apply([frame(2, usercmds={1: teacher, 0: teacher}, visibility={1: [0, 70], 0: [80]})])
    players = {p.client: p for p in parse(u.delta).delta.players}
    agent = players[1]
    assert agent.controller == wpb.CONTROLLER_AGENT and list(agent.sees) == [0, 70]
    t = agent.teacher
    assert (t.forward, t.buttons, t.weapon, t.yaw, t.pitch) == (64, 1, wpb.WEAPON_SHOTGUN, 16384, 100)  # delta_angles 0
    bot = {p.client: p for p in wpb.WorldState.FromString(b.state()).players}[0]
    assert not bot.HasField("teacher") and not bot.sees  # a slot no agent drives shows neither
    b.set_agent(1, False)  # no agent's any more: its teacher and view go with the agent
    (u,) = b.apply([frame(3)])
    back = {p.client: p for p in parse(u.delta).delta.players}[1]
    assert not back.HasField("teacher") and not back.sees and back.controller == wpb.CONTROLLER_HUMAN
