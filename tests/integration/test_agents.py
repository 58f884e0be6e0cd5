"""Agents in the real game: they move and turn as told, fire and frag, play in teams,
leave and are replaced, see only what they may, and are timed out when silent."""
from __future__ import annotations

import math
import queue
import sys
import time
from pathlib import Path

import grpc
import pytest

from gametap.client import AgentStream
from gametap.q3.v1 import world_pb2 as wpb
from gametap.testing import wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import scripted_agent  # noqa: E402

pytestmark = pytest.mark.game


def slot(name, **kw) -> apb.SlotSpec:
    return apb.SlotSpec(name=name, **kw)


def test_agent_moves_and_turns_as_commanded(client):
    match = client.create_match(lockstep(bots=("Grism",), skill=1, hold_for_agents=1, seed=11))
    try:
        with AgentStream(client, match.id, [slot("walker")]) as agents:
            me = agents.clients[0]
            agents.observe()
            assert agents.world.players[me].controller == wpb.CONTROLLER_AGENT
            assert agents.world.players[me].name == "walker"
            travelled = 0.0
            for turn in range(24):
                yaw, pitch = -180.0 + turn * 45.0 % 360, (-30.0, 0.0, 45.0)[turn % 3]
                forward, strafe = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0))[turn % 3]
                before = agents.world.players[me].origin
                for _ in range(12):
                    agents.step([apb.Action(client=me, forward=forward, strafe=strafe, yaw=yaw, pitch=pitch)])
                p = agents.world.players[me]
                if not p.alive:
                    continue
                assert abs((p.view_angles.y - yaw + 180) % 360 - 180) < 0.02  # exactly the commanded view
                assert p.view_angles.x == pytest.approx(pitch, abs=0.02)
                # where the command points: forward along the yaw, strafe to its right
                rad = math.radians(yaw)
                wish = (forward * math.cos(rad) + strafe * math.sin(rad), forward * math.sin(rad) - strafe * math.cos(rad))
                dx, dy = p.origin.x - before.x, p.origin.y - before.y
                dist = math.hypot(dx, dy)
                travelled += dist
                if dist > 30:  # it moved: towards the command (a wall may deflect it, never reverse it)
                    assert (dx * wish[0] + dy * wish[1]) / dist > 0.05, (turn, yaw, forward, strafe, dx, dy)
            assert travelled > 300
            for _ in range(40):
                agents.step([apb.Action(client=me, yaw=0.0)])
            still = agents.world.players[me].origin
            for _ in range(40):
                agents.step([apb.Action(client=me)])
            moved = math.dist((still.x, still.y), (agents.world.players[me].origin.x, agents.world.players[me].origin.y))
            assert moved < 1.0  # no command, no motion
    finally:
        client.stop_match(match.id)


def test_scripted_agent_fires_and_frags(client, daemon):
    match = client.create_match(lockstep(bots=("Grism", "Major"), skill=1, hold_for_agents=1, seed=5))
    try:
        # a generous timeout: a slow step on a busy machine must not change the (seeded) game
        client_num, state = scripted_agent.play(client, match.id, frames=3000, name="sniper", action_timeout_ms=30_000)
    finally:
        client.stop_match(match.id)
    (me,) = [p for p in state.players if p.name == "sniper"]
    assert me.client == client_num and me.controller == wpb.CONTROLLER_AGENT and me.score > 0
    log = daemon.game_log(match.id)
    assert f"Kill: {me.client} " in log  # the game itself says the agent fragged someone


def test_two_agents_and_two_bots_in_a_team_match(client):
    config = mpb.MatchConfig(clock=mpb.LOCKSTEP, game_type=wpb.GAME_TYPE_TEAM, hold_for_agents=2,
                             bots=[mpb.BotConfig(name="Grism", team=wpb.TEAM_BLUE),
                                   mpb.BotConfig(name="Major", team=wpb.TEAM_BLUE)])
    match = client.create_match(config)
    try:
        with AgentStream(client, match.id, [slot("red-1", team=wpb.TEAM_RED), slot("red-2", team=wpb.TEAM_RED)],
                         frames_per_step=4) as agents:
            obs = agents.observe()
            for step in range(300):
                obs = agents.step([scripted_agent.decide(c, agents.world, step) for c in agents.clients])
            players = agents.world.players
            assert {players[c].team for c in agents.clients} == {wpb.TEAM_RED}
            assert {p.team for p in players.values() if p.controller == wpb.CONTROLLER_BOT} == {wpb.TEAM_BLUE}
            assert len(players) == 4 and obs.frame - agents.world.frame == 0
            assert agents.world.match.game_type == wpb.GAME_TYPE_TEAM
        m = client.get_match(match.id)
        assert m.status == mpb.RUNNING
    finally:
        client.stop_match(match.id)


def test_agent_leaves_and_another_takes_its_slot(client):
    match = client.create_match(lockstep(bots=("Grism",), skill=1))
    try:
        first = AgentStream(client, match.id, [slot("first")])
        (c,) = first.clients
        first.observe()
        for _ in range(5):
            first.step([apb.Action(client=c, forward=1.0)])
        first.leave()
        first.close()
        wait_until(lambda: all(p.name != "first" for p in client.get_state(match.id).players), 30, "the leaver to go")
        with AgentStream(client, match.id, [slot("second")]) as second:
            assert second.clients == [c]  # the freed slot
            second.observe()
            second.step([apb.Action(client=c, forward=1.0)])
            assert second.world.players[c].name == "second"
            assert client.get_match(match.id).agent_clients == [c]
    finally:
        client.stop_match(match.id)


@pytest.mark.parametrize("clock", [mpb.LOCKSTEP, mpb.REALTIME], ids=["lockstep", "realtime"])
def test_leave_then_join_at_once_takes_the_freed_slot(client, clock):
    """Issue 10: a join right after a leave (same name even) used to wait 30 s and fail: the new
    player took the kicked one's client number while that one still seemed present."""
    config = lockstep(bots=("Grism",), skill=1) if clock == mpb.LOCKSTEP else mpb.MatchConfig(
        clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)])
    match = client.create_match(config)
    try:
        for round_ in range(3):
            with AgentStream(client, match.id, [slot("again")]) as agents:
                (c,) = agents.clients
                agents.observe()
                agents.step([apb.Action(client=c, forward=1.0)])
                assert agents.world.players[c].name == "again", round_
            # closing the stream kicks the player; the next join comes at once, with the same name
        wait_until(lambda: sum(p.name == "again" for p in client.get_state(match.id).players) == 0, 30,
                   "the last leaver to go")
        assert len(client.get_state(match.id).players) == 1  # only the bot: no ghost left behind
    finally:
        client.stop_match(match.id)


@pytest.mark.parametrize("clock", [mpb.LOCKSTEP, mpb.REALTIME], ids=["lockstep", "realtime"])
def test_a_stream_gone_before_its_player_appeared_leaves_no_ghost(client, clock):
    """Issue 10: a join cancelled after the daemon asked the game for the player, but before the
    player was in, left that player in the game for good (seen with a 20 ms cancel)."""
    match = client.create_match(mpb.MatchConfig(clock=clock, bots=[mpb.BotConfig(name="Grism", skill=1)]))
    try:
        wait_until(lambda: client.get_match(match.id).status == mpb.RUNNING, 30, "the match to run")
        channel = grpc.insecure_channel(client.worker_of(match.id))
        for delay in (0.005, 0.02, 0.05):
            requests = queue.SimpleQueue()
            requests.put(apb.PlayRequest(join=apb.JoinRequest(match_id=match.id, slots=[slot("ghost")])).SerializeToString())
            call = channel.stream_stream("/gametap.v1.AgentService/Play")(iter(requests.get, None))
            time.sleep(delay)
            call.cancel()
        time.sleep(2)  # the game has added (and the daemon kicked) any player it was asked for
        players = lambda: sorted(p.name for p in client.get_state(match.id).players)  # noqa: E731
        try:
            wait_until(lambda: players() == ["Grism"], 30, "no player but the bot")
        except AssertionError:
            raise AssertionError(f"players: {players()}") from None
        channel.close()
    finally:
        client.stop_match(match.id)


def test_silent_agent_is_timed_out_and_the_match_goes_on(client):
    match = client.create_match(lockstep(bots=("Grism",), skill=1))
    try:
        silent = AgentStream(client, match.id, [slot("silent")], action_timeout_ms=100)
        silent.observe()  # ... and never acts
        with AgentStream(client, match.id, [slot("busy")], action_timeout_ms=5000) as busy:
            me = busy.clients[0]
            obs = busy.observe()
            first = obs.frame
            started = time.monotonic()
            for _ in range(30):
                obs = busy.step([apb.Action(client=me, forward=1.0)])
            assert obs.frame >= first + 30
            assert time.monotonic() - started < 30  # ~0.1 s per step at most, never forever
        assert client.get_match(match.id).action_timeouts >= 25
        silent.close()
    finally:
        client.stop_match(match.id)


def test_pvs_agent_sees_a_subset_including_itself(client):
    match = client.create_match(lockstep(bots=("Grism", "Major", "Merman"), skill=1, hold_for_agents=2))
    try:
        with AgentStream(client, match.id, [slot("sees-all"), slot("sees-some", visibility=apb.PVS)]) as agents:
            full_client, pvs_client = agents.clients
            agents.observe()
            smaller = 0
            for step in range(200):
                agents.step([apb.Action(client=c, forward=1.0, yaw=step * 3.0) for c in agents.clients])
                full, pvs = agents.views[full_client], agents.views[pvs_client]
                assert pvs_client in pvs.players
                assert set(pvs.players) <= set(full.players) and set(pvs.entities) <= set(full.entities)
                assert pvs.frame == full.frame
                smaller += len(pvs.entities) < len(full.entities)
            assert smaller > 100  # walls hide things
            assert agents.views[full_client] is agents.world
    finally:
        client.stop_match(match.id)


def test_teacher_action_comes_with_observations(client):
    match = client.create_match(lockstep(bots=("Grism",), skill=1, hold_for_agents=1))
    try:
        with AgentStream(client, match.id, [slot("student", bot="Sarge", bot_skill=4)]) as agents:
            me = agents.clients[0]
            agents.observe()
            seen = []
            for _ in range(60):
                obs = agents.step([apb.Action(client=me)])
                (s,) = obs.slots
                if s.has_teacher:
                    seen.append(s.teacher)
            assert len(seen) >= 55
            assert any(t.forward != 0 or t.strafe != 0 for t in seen)  # the AI wanted to move
            assert all(-1 <= t.forward <= 1 and -180 <= t.yaw <= 180 and -90 <= t.pitch <= 90 for t in seen)
    finally:
        client.stop_match(match.id)


def test_realtime_agent_uses_the_latest_action_and_keeps_real_time(client):
    match = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)]))
    try:
        with AgentStream(client, match.id, [slot("live")]) as agents:
            me = agents.clients[0]
            obs = agents.observe()
            first, started = obs.frame, time.monotonic()
            agents.act([apb.Action(client=me, forward=1.0, yaw=45.0)])
            while time.monotonic() - started < 2.0:
                obs = agents.observe()  # no more actions: the last one holds
            elapsed = time.monotonic() - started
            fps = (obs.frame - first) / elapsed
            assert 15 < fps < 25  # real time at sv_fps 20 (generous)
            assert agents.world.players[me].view_angles.y == pytest.approx(45.0, abs=0.02)
    finally:
        client.stop_match(match.id)


def test_agent_stream_ends_with_a_final_observation(client):
    match = client.create_match(lockstep(bots=("Grism",), skill=1, hold_for_agents=1, max_frames=300))
    with AgentStream(client, match.id, [slot("until-the-end")], frames_per_step=7) as agents:
        me = agents.clients[0]
        obs = agents.observe()
        while not obs.final:
            assert obs.frame % 7 == agents.frame % 7
            obs = agents.step([apb.Action(client=me, forward=1.0)])
        assert obs.frame == 300
    assert wait_ended(client, match.id).status == mpb.FINISHED
