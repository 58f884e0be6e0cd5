"""The daemon's own TLS ([server] tls_cert / tls_key / tls_client_ca) with certificates made
here: gRPC at the daemon and at the worker a client follows, HTTP, the viewer's websocket,
the CLI, a certificate swapped by SIGHUP, and client certificates."""
from __future__ import annotations

import asyncio
import json
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
import websockets

from gametap.client import AgentStream, Client
from gametap.client.tls import ClientTls
from gametap.testing import start_daemon, wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from tests.certs import issue, make_ca

from .conftest import lockstep

pytestmark = pytest.mark.game
SUBPROTOCOL = "foxglove.websocket.v1"


def tls_config(path, server, client_ca=None) -> None:
    text = f'[server]\ntls_cert = "{server.cert}"\ntls_key = "{server.key}"\n'
    if client_ca is not None:
        text += f'tls_client_ca = "{client_ca.cert}"\n'
    path.write_text(text + "[default_match]\nenabled = false\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A daemon with a certificate from CA "one", and a LOCKSTEP match that runs for a while."""
    d = tmp_path_factory.mktemp("tls")
    ca = make_ca(d / "certs", "one")
    server = issue(ca, d / "certs", "daemon")
    config = d / "gametap.toml"
    tls_config(config, server)
    daemon = start_daemon(d / "state", "--config", str(config))
    try:
        with Client(daemon.grpc, tls=str(ca.cert)) as c:
            match = c.create_match(lockstep(bots=("Grism",), max_frames=2_000_000))
        yield {"daemon": daemon, "ca": ca, "server": server, "config": config, "match": match, "dir": d}
    finally:
        daemon.stop()


def status_of(call) -> grpc.StatusCode:
    try:
        call()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_grpc_at_the_daemon_and_at_the_worker_over_tls(served):
    daemon, ca, match = served["daemon"], served["ca"], served["match"]
    with Client(daemon.grpc, tls=str(ca.cert)) as c:
        assert match.id in [m.id for m in c.list_matches()]
        assert c.worker_of(match.id).endswith(f":{match.placement.grpc_port}")  # followed to its worker
        updates = []
        for update in c.watch(match.id):
            updates.append(update)
            if len(updates) == 3:
                break
        assert updates[0].WhichOneof("update") == "keyframe"
        assert len(c.get_state(match.id).players) == 1
    with Client(daemon.grpc, tls=str(ca.cert), follow_matches=False) as c:  # the daemon passes it to the worker
        assert len(c.get_state(match.id).players) == 1
        agent_match = c.create_match(lockstep(bots=("Grism",), max_frames=100_000))
    with Client(daemon.grpc, tls=str(ca.cert)) as c:
        with AgentStream(c, agent_match.id, [apb.SlotSpec(name="tls-agent")]) as agents:
            obs = agents.observe()
            for _ in range(5):
                obs = agents.step([apb.Action(client=agents.clients[0], forward=1)])
            assert obs.frame > 0 and agents.clients[0] in agents.views
        c.stop_match(agent_match.id)


def test_a_client_without_tls_or_trusting_another_ca_is_refused(served):
    daemon, match = served["daemon"], served["match"]
    other = make_ca(served["dir"] / "other", "stranger")
    with Client(daemon.grpc, tls=False) as plain:
        assert status_of(plain.list_matches) == grpc.StatusCode.UNAVAILABLE
    with Client(daemon.grpc, tls=str(other.cert)) as wrong:
        assert status_of(wrong.list_matches) == grpc.StatusCode.UNAVAILABLE
    worker = f"127.0.0.1:{match.placement.grpc_port}"
    with Client(worker, tls=False, follow_matches=False) as plain:  # the worker's own port is TLS too
        assert status_of(lambda: plain.get_state(match.id)) == grpc.StatusCode.UNAVAILABLE


def https_get(url: str, context: ssl.SSLContext | None) -> dict:
    with urllib.request.urlopen(url, timeout=10, context=context) as r:
        return json.loads(r.read())


async def first_world_message(port: int, match_id: str, context: ssl.SSLContext) -> bytes:
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", subprotocols=[SUBPROTOCOL], ssl=context,
                                  max_size=None) as ws:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["op"] == "advertise":
                break
        channel = next(ch for ch in msg["channels"] if ch["topic"] == f"/matches/{match_id}/world")
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel["id"]}]}))
        while True:
            msg = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(msg, bytes):
                return msg


def test_http_and_the_viewers_websockets_over_tls(served):
    daemon, ca, match = served["daemon"], served["ca"], served["match"]
    context = ClientTls.from_files(ca=ca.cert).ssl_context()
    listed = https_get(f"https://{daemon.http}/api/matches", context)
    assert match.id in [m["id"] for m in listed["matches"]]
    with pytest.raises(urllib.error.URLError):  # not trusted without the CA
        https_get(f"https://{daemon.http}/api/matches", None)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP to the TLS port
        https_get(f"http://{daemon.http}/api/matches", None)
    for port in (int(daemon.http.rpartition(":")[2]), match.placement.http_port):  # the daemon's and the worker's
        message = asyncio.run(first_world_message(port, match.id, context))
        assert message[0] == 1  # a Foxglove message data frame


def test_the_cli_over_tls(served):
    daemon, ca, match = served["daemon"], served["ca"], served["match"]
    run = [sys.executable, "-m", "gametap", "--server", daemon.grpc]
    out = subprocess.run([*run, "--tls-ca", str(ca.cert), "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and match.id in out.stdout, out.stderr
    out = subprocess.run([*run, "state", match.id, "--tls-ca", str(ca.cert)], capture_output=True, text=True,
                         timeout=60)  # after the verb too
    assert out.returncode == 0 and '"players"' in out.stdout, out.stderr
    out = subprocess.run([*run, "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "does it serve TLS?" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*run, "--tls-ca", str(served["dir"] / "missing.pem"), "list"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "missing.pem" in out.stderr and "Traceback" not in out.stderr


def test_sighup_serves_a_renewed_certificate_and_the_match_goes_on(served, tmp_path):
    daemon, match = served["daemon"], served["match"]
    new_ca = make_ca(tmp_path, "two")
    renewed = issue(new_ca, tmp_path, "daemon-renewed")
    with Client(daemon.grpc, tls=str(served["ca"].cert)) as c:
        frame = c.get_match(match.id).frame
    served["server"].cert.write_bytes(renewed.cert.read_bytes())  # a renewal rewrites the files in place
    served["server"].key.write_bytes(renewed.key.read_bytes())
    reloads = sum("SIGHUP: reloaded" in line for line in daemon.output)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: sum("SIGHUP: reloaded" in line for line in daemon.output) > reloads, 20, "the reload")
    with Client(daemon.grpc, tls=str(new_ca.cert)) as c:
        assert c.get_match(match.id).status == mpb.RUNNING
        wait_until(lambda: c.get_match(match.id).frame > frame, 30, "the match to go on")
        assert len(c.get_state(match.id).players) == 1  # at the worker, which took the new certificate too
    with Client(daemon.grpc, tls=str(served["ca"].cert)) as old:  # a new connection gets the new certificate
        assert status_of(old.list_matches) == grpc.StatusCode.UNAVAILABLE
    context = ClientTls.from_files(ca=new_ca.cert).ssl_context()
    assert match.id in [m["id"] for m in https_get(f"https://{daemon.http}/api/matches", context)["matches"]]
    assert asyncio.run(first_world_message(match.placement.http_port, match.id, context))[0] == 1
    served["ca"] = new_ca


def test_a_daemon_with_a_client_ca_asks_every_client_for_a_certificate(tmp_path):
    ca, clients = make_ca(tmp_path, "servers"), make_ca(tmp_path, "clients")
    server = issue(ca, tmp_path, "daemon")
    member = issue(clients, tmp_path, "trainer", server=False)
    outsider = issue(make_ca(tmp_path, "elsewhere"), tmp_path, "outsider", server=False)
    config = tmp_path / "gametap.toml"
    tls_config(config, server, client_ca=clients)
    daemon = start_daemon(tmp_path / "state", "--config", str(config))
    try:
        trusted = ClientTls.from_files(ca=ca.cert, cert=member.cert, key=member.key)
        with Client(daemon.grpc, tls=trusted) as c:
            match = c.create_match(lockstep(bots=("Grism",), max_frames=100_000))
            assert c.worker_of(match.id)
            wait_until(lambda: len(c.get_state(match.id).players) == 1, 30, "the bot, read at the worker")
            c.stop_match(match.id)
        with Client(daemon.grpc, tls=str(ca.cert)) as anonymous:
            assert status_of(anonymous.list_matches) == grpc.StatusCode.UNAVAILABLE
        with Client(daemon.grpc, tls=ClientTls.from_files(ca=ca.cert, cert=outsider.cert, key=outsider.key)) as c:
            assert status_of(c.list_matches) == grpc.StatusCode.UNAVAILABLE
        assert "matches" in https_get(f"https://{daemon.http}/api/matches", trusted.ssl_context())
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            https_get(f"https://{daemon.http}/api/matches", ClientTls.from_files(ca=ca.cert).ssl_context())
    finally:
        daemon.stop()


def test_a_bad_certificate_stops_the_daemon_at_start_with_the_reason(tmp_path):
    ca = make_ca(tmp_path, "ca")
    one, two = issue(ca, tmp_path, "one"), issue(ca, tmp_path, "two")
    config = tmp_path / "gametap.toml"
    config.write_text(f'[server]\ntls_cert = "{one.cert}"\ntls_key = "{two.key}"\n')  # not its key
    with pytest.raises(RuntimeError, match="tls_cert .* and tls_key"):
        start_daemon(tmp_path / "state", "--config", str(config))
    config.write_text(f'[server]\ntls_cert = "{tmp_path / "nowhere.pem"}"\ntls_key = "{one.key}"\n')
    with pytest.raises(RuntimeError, match="nowhere.pem.*No such file"):
        start_daemon(tmp_path / "state", "--config", str(config))
