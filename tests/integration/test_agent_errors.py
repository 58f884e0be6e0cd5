"""Bad Play requests get clear statuses; the match carries on for everyone else."""
from __future__ import annotations

import grpc
import pytest

from gametap.client import AgentStream
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import agent_pb2_grpc
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


@pytest.fixture(scope="module")
def shared_match(daemon):
    """One LOCKSTEP match with a well-behaved agent that keeps playing through every test."""
    with daemon.client() as client:
        match = client.create_match(lockstep(bots=("Grism",), skill=1))
        good = AgentStream(client, match.id, [apb.SlotSpec(name="good")], action_timeout_ms=200)
        good.observe()
        yield client, match, good
        good.close()
        client.stop_match(match.id)


def keeps_playing(good: AgentStream, steps: int = 5) -> None:
    frame = good.frame
    for _ in range(steps):
        good.step([apb.Action(client=good.clients[0], forward=1.0)])
    assert good.frame >= frame + steps


def status(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def raw_play(client, *requests):
    """Sends requests on a fresh stream; returns the responses until the server ends it."""
    stub = agent_pb2_grpc.AgentServiceStub(client.channel)
    return list(stub.Play(iter(requests), timeout=30))


@pytest.mark.parametrize("action, field", [
    (apb.Action(forward=1.5), "actions[0].forward"),
    (apb.Action(strafe=-2.0), "actions[0].strafe"),
    (apb.Action(jump=float("nan")), "actions[0].jump"),
    (apb.Action(yaw=float("inf")), "actions[0].yaw"),
    (apb.Action(pitch=120.0), "actions[0].pitch"),
    (apb.Action(weapon=99), "actions[0].weapon"),
])
def test_out_of_range_actions(shared_match, action, field):
    client, match, good = shared_match
    with AgentStream(client, match.id, [apb.SlotSpec(name="bad")]) as bad:
        bad.observe()
        action.client = bad.clients[0]
        code, details = status(lambda: bad.step([action]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field), details
    keeps_playing(good)


def test_action_for_someone_elses_slot(shared_match):
    client, match, good = shared_match
    with AgentStream(client, match.id, [apb.SlotSpec(name="thief")]) as bad:
        bad.observe()
        code, details = status(lambda: bad.step([apb.Action(client=good.clients[0])]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("actions[0].client")
    keeps_playing(good)


def test_action_for_a_frame_not_observed(shared_match):
    client, match, good = shared_match
    with AgentStream(client, match.id, [apb.SlotSpec(name="early")]) as bad:
        bad.observe()
        bad.frame += 1000  # claims to answer a frame it has not seen
        code, details = status(lambda: bad.step([apb.Action(client=bad.clients[0])]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("frame:"), details
    keeps_playing(good)


def test_second_join_on_one_stream(shared_match):
    client, match, good = shared_match
    join = apb.PlayRequest(join=apb.JoinRequest(match_id=match.id, slots=[apb.SlotSpec(name="twice")]))
    code, details = status(lambda: raw_play(client, join, join))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "joined already" in details
    keeps_playing(good)


def test_first_request_must_be_a_join(shared_match):
    client, match, good = shared_match
    code, details = status(lambda: raw_play(client, apb.PlayRequest(act=apb.ActionBatch(frame=1))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "join" in details


@pytest.mark.parametrize("spec, field", [
    (apb.SlotSpec(name="x", team=wpb.TEAM_RED), "slots[0].team"),        # not a team game
    (apb.SlotSpec(name="x", team=42), "slots[0].team"),
    (apb.SlotSpec(name="x", team=wpb.TEAM_SPECTATOR), "slots[0].team"),
    (apb.SlotSpec(name=""), "slots[0].name"),
    (apb.SlotSpec(name='bad"name;quit'), "slots[0].name"),
    (apb.SlotSpec(name="x", bot="Nobody"), "slots[0].bot"),
    (apb.SlotSpec(name="x", bot_skill=7), "slots[0].bot_skill"),
    (apb.SlotSpec(name="x", visibility=9), "slots[0].visibility"),
])
def test_bad_slots(shared_match, spec, field):
    client, match, good = shared_match
    code, details = status(lambda: AgentStream(client, match.id, [spec]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field), details
    keeps_playing(good)


def test_unknown_match(client):
    code, details = status(lambda: AgentStream(client, "nope", [apb.SlotSpec(name="x")]))
    assert code == grpc.StatusCode.NOT_FOUND


def test_finished_match(client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=50))
    wait_ended(client, match.id)
    code, details = status(lambda: AgentStream(client, match.id, [apb.SlotSpec(name="late")]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "FINISHED" in details


def test_full_match(client):
    """The game module runs at most 24 bot-driven players: bots and agents' slots together."""
    match = client.create_match(lockstep(bots=["Grism"] * 22, skill=1, max_frames=100_000))
    try:
        code, details = status(lambda: AgentStream(client, match.id, [apb.SlotSpec(name=f"a{i}") for i in range(3)]))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "at most 24" in details and "22 are taken" in details
        with AgentStream(client, match.id, [apb.SlotSpec(name="a0"), apb.SlotSpec(name="a1")]) as fits:
            assert len(fits.clients) == 2  # exactly the two free slots
    finally:
        client.stop_match(match.id)
    assert client.get_match(match.id).status == mpb.STOPPED
