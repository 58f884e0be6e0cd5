"""Access tokens with roles on a daemon that has them: gRPC (sync and asyncio clients, the
CLI) and HTTP (the API, metrics, the websocket), against the real daemon and game."""
import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
import websockets
from grpc_health.v1 import health_pb2, health_pb2_grpc
from websockets.exceptions import InvalidStatus

from gametap.client import AgentStream, AsyncAgentStream, AsyncClient, Client
from gametap.testing import start_daemon_with_tokens
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
ADMIN, PLAYER, VIEWER = "admin-token-0123456789", "player-token-0123456789", "viewer-token-0123456789"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    tokens = {ADMIN: "admin", PLAYER: "play", VIEWER: "observe"}
    daemon = start_daemon_with_tokens(tmp_path_factory.mktemp("auth-state"), tokens)
    yield daemon
    daemon.stop()


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code()


def test_each_role_reaches_what_it_may(guarded):
    with Client(guarded.grpc, token="") as anonymous, Client(guarded.grpc, token=VIEWER) as viewer, \
            Client(guarded.grpc, token=PLAYER) as player, Client(guarded.grpc, token=ADMIN) as admin:
        assert code_of(anonymous.list_matches) == grpc.StatusCode.UNAUTHENTICATED
        with Client(guarded.grpc, token="wrong-token-0123456789") as stranger:
            assert code_of(stranger.list_matches) == grpc.StatusCode.UNAUTHENTICATED
        config = lockstep(bots=("Grism",), max_frames=300)
        assert code_of(lambda: viewer.create_match(config)) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: player.create_match(config)) == grpc.StatusCode.PERMISSION_DENIED
        match = admin.create_match(config)
        assert wait_ended(viewer, match.id).status == mpb.FINISHED
        assert [u.WhichOneof("update") for u in viewer.watch(match.id)] == ["keyframe"]  # the final state
        assert viewer.get_state(match.id).frame == 300
        assert code_of(lambda: viewer.stop_match(match.id)) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: player.run_command(match.id, "status")) == grpc.StatusCode.PERMISSION_DENIED
        assert match.id in [m.id for m in player.list_matches()]
        assert viewer.get_recording(match.id).provenance.config.max_frames == 300  # the archive: observe reads
        assert code_of(lambda: player.delete_recording(match.id)) == grpc.StatusCode.PERMISSION_DENIED  # admin removes
        assert admin.delete_recording(match.id) > 0


def test_health_needs_no_token(guarded):
    channel = grpc.insecure_channel(guarded.grpc)
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_playing_needs_the_play_role(guarded):
    with Client(guarded.grpc, token=ADMIN) as admin, Client(guarded.grpc, token=VIEWER) as viewer, \
            Client(guarded.grpc, token=PLAYER) as player:
        match = admin.create_match(lockstep(bots=("Grism",), hold_for_agents=1, max_frames=5000))
        try:
            with pytest.raises(grpc.RpcError) as e, AgentStream(viewer, match.id, [apb.SlotSpec(name="peeker")]):
                pass
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and "play role" in e.value.details()
            with AgentStream(player, match.id, [apb.SlotSpec(name="player")]) as stream:
                first = stream.observe().frame
                obs = stream.step([apb.Action(client=stream.clients[0], forward=1)])
                assert obs.frame == first + 1
        finally:
            admin.stop_match(match.id)


def test_the_asyncio_client_and_its_agent_stream_send_the_token(guarded):
    async def play() -> tuple[int, int]:
        async with AsyncClient(guarded.grpc, token=ADMIN) as admin, AsyncClient(guarded.grpc, token=PLAYER) as player:
            match = await admin.create_match(lockstep(bots=("Grism",), hold_for_agents=1, max_frames=5000))
            try:
                stream = await AsyncAgentStream.open(player.channel, match.id, [apb.SlotSpec(name="async")])
                first = (await stream.observe()).frame
                obs = await stream.step([apb.Action(client=stream.clients[0], forward=1)])
                await stream.close()
                return first, obs.frame
            finally:
                await admin.stop_match(match.id)
    first, after = asyncio.run(play())
    assert after == first + 1


def test_the_cli_takes_a_token_or_gametap_token(guarded):
    def gametap(*args, env_token=None):
        env = {**os.environ, "GAMETAP_TOKEN": env_token or ""}
        return subprocess.run([sys.executable, "-m", "gametap", "--server", guarded.grpc, *args],
                              capture_output=True, text=True, timeout=60, env=env)
    refused = gametap("list")
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    assert gametap("--token", VIEWER, "list").returncode == 0
    assert gametap("list", env_token=VIEWER).returncode == 0
    denied = gametap("create", "--clock", "lockstep", env_token=VIEWER)
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr and "admin role" in denied.stderr


def http_status(guarded, path, headers=None) -> int:
    request = urllib.request.Request(f"http://{guarded.http}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_http_api_needs_an_observe_token_and_the_viewer_files_do_not(guarded):
    for path in ("/api/matches", "/api/maps/oa_dm1", "/metrics"):
        assert http_status(guarded, path) == 401, path
        assert http_status(guarded, f"{path}?token=wrong-token-0123456789") == 401, path
        assert http_status(guarded, f"{path}?token={VIEWER}") == 200, path
        assert http_status(guarded, path, {"Authorization": f"Bearer {PLAYER}"}) == 200, path
    for path in ("/", "/healthz", "/static/js/main.js", "/vendor/protobuf.min.js"):
        assert http_status(guarded, path) == 200, path


def test_the_websocket_needs_a_token(guarded):
    async def connect(query: str):
        async with websockets.connect(f"ws://{guarded.http}/ws{query}", subprotocols=["foxglove.websocket.v1"]) as ws:
            return json.loads(await ws.recv())
    with pytest.raises(InvalidStatus) as e:
        asyncio.run(connect(""))
    assert e.value.response.status_code == 401
    assert asyncio.run(connect(f"?token={VIEWER}"))["op"] == "serverInfo"


def test_a_non_utf8_authorization_header_is_401_not_500(guarded):
    import http.client
    host, port = guarded.http.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("GET", "/api/matches")
    conn.putheader("Authorization", b"Bearer \xff\xfe-not-utf-8")
    conn.endheaders()
    assert conn.getresponse().status == 401
    conn.close()


def test_bad_requests_are_logged_on_one_line_and_tokens_never(guarded):
    import socket
    import time
    host, port = guarded.http.rsplit(":", 1)
    before = len(guarded.output)
    with socket.create_connection((host, int(port)), timeout=30) as s:  # a request line of 9 KB
        s.sendall(f"GET /api/matches?token={ADMIN}&pad={'x' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.recv(1000)
    with socket.create_connection((host, int(port)), timeout=30) as s:  # a websocket handshake cut short
        s.sendall(f"GET /ws?token={ADMIN} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".encode())
    time.sleep(1.0)
    logged = guarded.output[before:]
    assert not any(ADMIN in line for line in logged), logged
    assert not any(line.startswith(("Traceback", "  File ")) for line in logged), logged
