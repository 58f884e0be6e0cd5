"""Bad requests get clear statuses; a killed game fails only its own match."""
import os
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gametap.q3.v1 import world_pb2 as wpb
from gametap.testing import wait_until
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def status_of(call):
    with pytest.raises(grpc.RpcError) as e:
        result = call()
        if hasattr(result, "__next__"):
            next(result)
    return e.value.code(), e.value.details()


def test_unknown_match_is_not_found(client):
    calls = [
        lambda: client.get_match("nope"),
        lambda: client.stop_match("nope"),
        lambda: client.get_state("nope"),
        lambda: client.run_command("nope", "status"),
        lambda: client.observe.Watch(opb.WatchRequest(match_id="nope")),
    ]
    for call in calls:
        code, details = status_of(call)
        assert code == grpc.StatusCode.NOT_FOUND and "nope" in details


@pytest.mark.parametrize("config, field", [
    (mpb.MatchConfig(map="no_such_map"), "map"),
    (mpb.MatchConfig(map="../../etc/passwd"), "map"),
    (mpb.MatchConfig(bots=[mpb.BotConfig(name="Sarge", skill=9)]), "bots[0].skill"),
    (mpb.MatchConfig(frag_limit=-1), "frag_limit"),
    (mpb.MatchConfig(time_limit_s=-60), "time_limit_s"),
    (mpb.MatchConfig(capture_limit=-2), "capture_limit"),
    (mpb.MatchConfig(server_fps=-20), "server_fps"),
])
def test_bad_config_is_invalid_argument_naming_the_field(client, config, field):
    before = len(client.list_matches())
    code, details = status_of(lambda: client.create_match(config))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field + ":"), details
    assert len(client.list_matches()) == before  # nothing was created


def test_bad_commands_are_refused(client):
    match = client.create_match(lockstep(bots=("Sarge",), max_frames=100_000))
    try:
        code, details = status_of(lambda: client.run_command(match.id, "say hi\nquit"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("command:")
        code, _ = status_of(lambda: client.run_command(match.id, ""))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        client.stop_match(match.id)
    code, details = status_of(lambda: client.run_command(match.id, "status"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "STOPPED" in details


def test_killed_game_fails_its_match_only(client, daemon):
    victim = client.create_match(lockstep(bots=("Sarge", "Grism")))
    bystander = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Major")]))
    try:
        pid = wait_until(lambda: client.get_match(victim.id).pid, 30, "the game's pid")
        wait_until(lambda: client.get_match(victim.id).frame > 100, 60, "frames")
        os.kill(pid, signal.SIGKILL)
        final = wait_ended(client, victim.id, timeout=30)
        assert final.status == mpb.FAILED
        assert "SIGKILL" in final.failure
        assert final.log_tail and any("Item:" in line or "Kill:" in line or "ClientBegin" in line for line in final.log_tail)
        state = client.get_state(victim.id)  # the last state it reached stays readable
        assert state.frame == final.frame and len(state.players) == 2
        frame = client.get_match(bystander.id).frame
        wait_until(lambda: client.get_match(bystander.id).frame > frame + 10, 30, "the other match to go on")
        assert client.get_match(bystander.id).status == mpb.RUNNING
        health = health_pb2_grpc.HealthStub(grpc.insecure_channel(daemon.grpc))
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        client.stop_match(bystander.id)
    assert client.get_match(bystander.id).status == mpb.STOPPED


def test_state_names_map_and_game_type(client):
    match = client.create_match(lockstep(bots=("Sarge",), max_frames=300, map="oa_dm1"))
    wait_ended(client, match.id)
    state = client.get_state(match.id)
    assert state.match.map == "oa_dm1" and state.match.game_type == wpb.GAME_TYPE_FFA


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a" + b"\x80" * 11, b"\x0a\x02\xff\xfe"],
                         ids=["bad-tag", "truncated", "overlong-varint", "not-utf8"])
def test_undecodable_bodies_at_the_daemon_and_at_a_worker_are_invalid_argument(client, daemon, body):
    """Bytes that are no request, sent to the daemon and straight to the match's worker (where
    clients follow a match), get INVALID_ARGUMENT, not UNKNOWN."""
    match = client.create_match(lockstep(bots=("Sarge",), max_frames=100_000))
    try:
        worker = f"127.0.0.1:{client.get_match(match.id).placement.grpc_port}"
        for address in (daemon.grpc, worker):
            with grpc.insecure_channel(address) as channel:
                for method, kind in (("/gametap.v1.ObserveService/GetState", channel.unary_unary),
                                     ("/gametap.v1.ObserveService/Watch", channel.unary_stream)):
                    call = kind(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
                    code, details = status_of(lambda call=call: call(body, timeout=10))
                    assert code == grpc.StatusCode.INVALID_ARGUMENT, (address, method, code, details)
                    assert details.startswith("request:")
    finally:
        client.stop_match(match.id)


@pytest.mark.parametrize("method", ["CreateMatch", "ListMatches", "GetMatch", "StopMatch", "RunCommand", "DescribeGame"])
def test_undecodable_match_service_bodies_are_invalid_argument(daemon, method):
    with grpc.insecure_channel(daemon.grpc) as channel:
        call = channel.unary_unary(f"/gametap.v1.MatchService/{method}", request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        code, details = status_of(lambda: call(b"\xff\xff\xff", timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("request:"), (code, details)
    assert not any("Traceback" in line for line in daemon.output[-50:])
