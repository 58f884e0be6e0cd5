"""The Foxglove WebSocket protocol with a plain Python websocket client, against the real daemon."""
from __future__ import annotations

import asyncio
import base64
import json
import random
import struct

import pytest
import websockets
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from gametap.client import World
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
SUBPROTOCOL = "foxglove.websocket.v1"


async def connect(daemon):
    ws = await websockets.connect(f"ws://{daemon.http}/ws", subprotocols=[SUBPROTOCOL], max_size=None)
    info = json.loads(await ws.recv())
    advertise = json.loads(await ws.recv())
    return ws, info, advertise


async def next_status(ws, timeout=5.0) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(msg, str) and json.loads(msg)["op"] == "status":
            return json.loads(msg)


def channel_for(advertise: dict, match_id: str) -> dict:
    return next(ch for ch in advertise["channels"] if ch["topic"] == f"/matches/{match_id}/world")


def test_server_info_and_advertise_with_a_valid_descriptor_set(daemon, client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=50))

    async def main():
        ws, info, advertise = await connect(daemon)
        await ws.close()
        return ws.subprotocol, info, advertise

    subprotocol, info, advertise = asyncio.run(main())
    assert subprotocol == SUBPROTOCOL
    assert info["op"] == "serverInfo" and info["name"].startswith("gametap") and "capabilities" in info
    ch = channel_for(advertise, match.id)
    assert (ch["encoding"], ch["schemaName"], ch["schemaEncoding"]) == ("protobuf", "gametap.v1.WorldUpdate", "protobuf")
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(ch["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:  # every dependency comes first: the set is self-contained
        pool.Add(f)
    update_type = message_factory.GetMessageClass(pool.FindMessageTypeByName("gametap.v1.WorldUpdate"))
    assert set(update_type.DESCRIPTOR.fields_by_name) == {"keyframe", "delta"}


def test_subscription_starts_with_a_keyframe_and_satisfies_the_invariant(daemon, client):
    match = client.create_match(lockstep(max_frames=3000, seed=42))

    async def main():
        ws, _, advertise = await connect(daemon)
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 5, "channelId": channel_for(advertise, match.id)["id"]}]}))
        world, kinds = World(), []
        while world.frame < 3000:
            msg = await asyncio.wait_for(ws.recv(), 60)
            if isinstance(msg, str):
                continue
            opcode, sub_id, _ = struct.unpack_from("<BIQ", msg)
            assert (opcode, sub_id) == (1, 5)
            update = opb.WorldUpdate.FromString(msg[13:])
            kinds.append(update.WhichOneof("update"))
            world.apply(update)
        await ws.close()
        return world, kinds

    world, kinds = asyncio.run(main())
    assert kinds[0] == "keyframe"
    wait_ended(client, match.id)
    state = client.get_state(match.id)
    assert world.state().SerializeToString(deterministic=True) == state.SerializeToString(deterministic=True)


def test_new_matches_are_advertised_and_unsubscribe_stops_the_stream(daemon, client):
    async def main():
        ws, _, _ = await connect(daemon)
        match = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism")]))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["op"] == "advertise" and any(c["topic"].endswith(match.id + "/world") for c in msg["channels"]):
                break
        ch = channel_for(msg, match.id)
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": ch["id"]}]}))
        got = 0
        while got < 5:
            got += isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)
        await ws.send(json.dumps({"op": "unsubscribe", "subscriptionIds": [1]}))
        await asyncio.sleep(0.3)
        while True:  # drain what was in flight
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                break
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.6)  # 20 frames/s would have arrived by now
        await ws.close()
        client.stop_match(match.id)

    asyncio.run(main())


@pytest.mark.parametrize("payload, expected", [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"op": "teleport"}), "unknown op 'teleport'"),
    (json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": 99999}]}), "no channel 99999"),
    (json.dumps({"op": "subscribe", "subscriptions": [{"id": "x", "channelId": 1}]}), "integer id and channelId"),
    (json.dumps({"op": "subscribe", "subscriptions": "all"}), "must be a list"),
    (json.dumps({"op": "unsubscribe", "subscriptionIds": [123]}), "no subscription 123"),
    (json.dumps({"op": "subscribe", "pad": "x" * 100_000, "subscriptions": []}), "larger than"),
    (b"\x01\x02\x03", "binary client messages are not supported"),
    ("[" * 2000, "nested too deeply"),  # issue 20, defect 6: a RecursionError closed the connection (1006)
    ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deeply"),
    ("[" * 60_000, "nested too deeply"),
])
def test_bad_client_messages_get_an_error_status_and_the_connection_lives_on(daemon, payload, expected):
    async def main():
        ws, _, _ = await connect(daemon)
        await ws.send(payload)
        status = await next_status(ws)
        await ws.send(json.dumps({"op": "nothing"}))  # still answering
        again = await next_status(ws)
        await ws.close()
        return status, again

    status, again = asyncio.run(main())
    assert status["level"] == 2 and expected in status["message"]
    assert "unknown op" in again["message"]


def test_reused_subscription_id_and_missing_subprotocol(daemon, client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=20))

    async def main():
        ws, _, advertise = await connect(daemon)
        sub = json.dumps({"op": "subscribe", "subscriptions": [{"id": 3, "channelId": channel_for(advertise, match.id)["id"]}]})
        await ws.send(sub)
        await ws.send(sub)
        status = await next_status(ws)
        await ws.close()
        plain = await websockets.connect(f"ws://{daemon.http}/ws")
        refusal = json.loads(await plain.recv())
        await asyncio.sleep(0.2)
        return status, refusal, plain

    status, refusal, plain = asyncio.run(main())
    assert "in use" in status["message"]
    assert refusal["op"] == "status" and "subprotocol" in refusal["message"]
    assert plain.close_code == 1002


def test_deep_json_is_answered_at_the_workers_websocket_too_and_logs_no_traceback(daemon, client):
    """Each worker serves its matches' viewers on its own websocket (Match.placement.http_port)."""
    match = client.create_match(lockstep(bots=("Grism",), max_frames=20))
    worker = f"127.0.0.1:{client.get_match(match.id).placement.http_port}"

    async def main():
        ws = await websockets.connect(f"ws://{worker}/ws", subprotocols=[SUBPROTOCOL], max_size=None)
        await ws.recv(), await ws.recv()  # serverInfo, advertise
        await ws.send("[" * 5000)
        status = await next_status(ws)
        await ws.send(json.dumps({"op": "nothing"}))
        again = await next_status(ws)
        await ws.close()
        return status, again

    status, again = asyncio.run(main())
    assert status["level"] == 2 and "nested too deeply" in status["message"] and "unknown op" in again["message"]
    assert not any("RecursionError" in line or "Traceback" in line for line in daemon.output)


def test_random_and_truncated_text_each_get_one_error_status(daemon):
    """Every bad text message is answered with a status, on one connection that stays up."""
    rng = random.Random(20)
    valid = json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": 1}]})
    payloads = [valid[:n] for n in range(len(valid))]  # every truncation
    payloads += ["".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 200))) for _ in range(100)]
    payloads += ["".join(rng.choice('[{]}\\":,1a') for _ in range(rng.randrange(1, 3000))) for _ in range(100)]

    async def main():
        ws, _, _ = await connect(daemon)
        statuses = []
        for payload in payloads:
            await ws.send(payload)
            statuses.append(await next_status(ws))
        await ws.close()
        return statuses

    statuses = asyncio.run(main())
    assert len(statuses) == len(payloads) and all(s["level"] == 2 for s in statuses)
