"""The asyncio client, and the daemon's gRPC side fed garbage instead of protobuf."""
import asyncio

import grpc
import pytest

from gametap.client import AsyncAgentStream, AsyncClient, World
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep

pytestmark = pytest.mark.game


def test_asyncio_client_creates_watches_plays_and_stops(daemon):
    async def main():
        async with AsyncClient(daemon.grpc) as c:
            match = await c.create_match(lockstep(bots=("Grism",), skill=1, max_frames=100_000))
            assert match.id in [m.id for m in await c.list_matches()]
            stream = await AsyncAgentStream.open(c.channel, match.id, [apb.SlotSpec(name="async")])
            me = stream.clients[0]
            await stream.observe()
            for _ in range(50):
                await stream.step([apb.Action(client=me, forward=1.0, yaw=90.0)])
            world = World()
            async for update in c.watch(match.id, max_batch=64):
                world.apply(update)
                if world.frame > stream.frame:
                    break
            assert "async" in {p.name for p in world.players.values()}
            assert "hello-async" in await c.run_command(match.id, "echo hello-async")
            await stream.close()
            stopped = await c.stop_match(match.id)
            assert stopped.status == mpb.STOPPED
            state = await c.get_state(match.id)
            assert state.frame == stopped.frame
    asyncio.run(main())


@pytest.mark.parametrize("method", ["/gametap.v1.AgentService/Play", "/gametap.v1.ObserveService/Watch",
                                    "/gametap.v1.MatchService/CreateMatch"])
@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", b"\x0a\xff\x01" + b"x" * 5, bytes(range(256))])
def test_undecodable_requests_are_refused_and_the_daemon_carries_on(daemon, client, method, garbage):
    ident = lambda b: b  # noqa: E731 - send raw bytes, not protobuf
    channel = client.channel
    with pytest.raises(grpc.RpcError) as e:
        if method.endswith("Play"):
            list(channel.stream_stream(method, request_serializer=ident, response_deserializer=ident)(iter([garbage]), timeout=10))
        elif method.endswith("Watch"):
            list(channel.unary_stream(method, request_serializer=ident, response_deserializer=ident)(garbage, timeout=10))
        else:
            channel.unary_unary(method, request_serializer=ident, response_deserializer=ident)(garbage, timeout=10)
    assert e.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN)
    assert client.list_matches() is not None  # still serving
