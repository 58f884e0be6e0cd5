"""Watch streams under load: a slow watcher never slows the game; it is resynced at a keyframe."""
import time

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gametap.client import World
from gametap.testing import wait_until
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def test_slow_watcher_is_resynced_and_the_game_does_not_wait(client):
    match = client.create_match(lockstep(max_frames=30000, keyframe_interval=500))
    stream = client.observe.Watch(opb.WatchRequest(match_id=match.id, max_batch=1))
    world, kinds = World(), []
    started = time.monotonic()
    for response in stream:
        (update,) = response.updates
        world.apply(update)  # raises if a delta ever skipped a frame
        kinds.append(update.WhichOneof("update"))
        if len(kinds) == 1:
            # Stop reading until the hub has given up on this watcher: the game must
            # run on without it, however fast or slow this machine is.
            wait_until(lambda: client.get_match(match.id).dropped_updates > 0, 60, "the hub to drop a lagging watcher")
    elapsed = time.monotonic() - started
    final = wait_ended(client, match.id)
    assert final.status == mpb.FINISHED and final.frame == 30000
    assert kinds[0] == "keyframe" and kinds.count("keyframe") >= 2  # resynced at least once
    assert final.dropped_updates > 0
    assert world.frame == 30000  # caught up with the end of the match
    assert elapsed < 90  # the game ran at its own pace, not the watcher's (generous bound)


def test_reflection_lists_the_services(daemon):
    channel = grpc.insecure_channel(daemon.grpc)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    (reply,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    names = {s.name for s in reply.list_services_response.service}
    assert {"gametap.v1.MatchService", "gametap.v1.ObserveService", "grpc.health.v1.Health"} <= names
