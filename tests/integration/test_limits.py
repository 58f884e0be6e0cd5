"""[limits]: matches, agents' and watchers' streams, viewer connections and their subscriptions,
each refused with RESOURCE_EXHAUSTED (or a Foxglove status) naming the limit, and freed again."""
from __future__ import annotations

import asyncio
import json

import grpc
import pytest
import websockets

from gametap.client import AgentStream
from gametap.testing import start_daemon, wait_until
from gametap.v1 import agent_pb2 as apb

from .conftest import lockstep

pytestmark = pytest.mark.game

SUBPROTOCOL = "foxglove.websocket.v1"


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    state = tmp_path_factory.mktemp("limits-state")
    config = state / "gametap.toml"
    config.write_text("[server]\nworkers = 1\n[limits]\nmatches = 2\nplay_streams_per_match = 1\n"
                      "watch_streams_per_match = 1\nwebsockets = 1\nsubscriptions_per_websocket = 1\n")
    daemon = start_daemon(state, "--no-default-match", "--config", str(config))
    with daemon.client() as c:
        yield daemon, c
    daemon.stop()


def refused(call) -> str:
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value.details()
    return e.value.details()


def test_matches_and_streams(limited):
    daemon, c = limited
    a = c.create_match(lockstep(bots=("Grism",), skill=1, max_frames=10**6))
    b = c.create_match(lockstep(bots=("Grism",), skill=1, max_frames=10**6))
    assert "[limits] matches = 2" in refused(lambda: c.create_match(lockstep(bots=("Grism",))))

    first = AgentStream(c, a.id, [apb.SlotSpec(name="one")])
    assert "[limits] play_streams_per_match = 1" in refused(lambda: AgentStream(c, a.id, [apb.SlotSpec(name="two")]))
    first.close()
    with AgentStream(c, a.id, [apb.SlotSpec(name="three")]) as again:  # the first one's place is free
        assert len(again.clients) == 1

    watching = c.watch(b.id)
    next(watching)  # the keyframe: this stream is open
    assert "[limits] watch_streams_per_match = 1" in refused(lambda: next(c.watch(b.id)))
    watching.close()

    def watch_opens() -> bool:
        try:
            again = c.watch(b.id)
            next(again)
            again.close()
            return True
        except grpc.RpcError:
            return False
    wait_until(watch_opens, 10, "the closed watch stream's place to be free")

    c.stop_match(b.id)
    c.stop_match(c.create_match(lockstep(bots=("Grism",))).id)  # a stopped match no longer counts
    c.stop_match(a.id)


def test_viewer_connections_and_subscriptions(limited):
    daemon, c = limited
    match = c.create_match(lockstep(bots=("Grism",), skill=1, max_frames=10**6))

    async def main():
        ws = await websockets.connect(f"ws://{daemon.http}/ws", subprotocols=[SUBPROTOCOL], max_size=None)
        await ws.recv()  # serverInfo
        channels = json.loads(await ws.recv())["channels"]
        channel = next(ch["id"] for ch in channels if ch["topic"] == f"/matches/{match.id}/world")
        second = await websockets.connect(f"ws://{daemon.http}/ws", subprotocols=[SUBPROTOCOL])
        turned_away = json.loads(await second.recv())
        await second.wait_closed()
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel},
                                                                        {"id": 2, "channelId": channel}]}))
        status = None
        while status is None:
            msg = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(msg, str) and json.loads(msg)["op"] == "status":
                status = json.loads(msg)
        await ws.close()
        return turned_away, second.close_code, status

    turned_away, code, status = asyncio.run(main())
    assert turned_away["op"] == "status" and "[limits] websockets = 1" in turned_away["message"] and code == 1013
    assert "[limits] subscriptions_per_websocket = 1" in status["message"]
    c.stop_match(match.id)
