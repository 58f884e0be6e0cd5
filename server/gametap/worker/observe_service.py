"""gametap.v1.ObserveService.

The daemon holds updates and state already serialized, so both handlers are
registered with an identity response serializer and return response bytes
assembled from those parts (gametap.wire): nothing is parsed or re-encoded here.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from gametap import wire
from gametap.core.errors import FailedPrecondition, GametapError, NotFound, OutOfRange
from gametap.recordings.paths import recording_on_disk
from gametap.recordings.replay import Replay, update_head
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import observe_pb2 as opb
from gametap.worker.hub import Subscriber
from gametap.worker.manager import MatchManager

SERVICE = "gametap.v1.ObserveService"
WATCH_METHOD = f"/{SERVICE}/Watch"  # for the daemon's own calls to a worker
STATE = wire.field_number(opb.GetStateResponse, "state")
UPDATES = wire.field_number(opb.WatchResponse, "updates")
MAX_BATCH = 4096
REPLAY_CHUNK = 512  # recorded updates read per worker-thread call


class ObserveService:
    def __init__(self, manager: MatchManager):
        self._manager = manager

    async def watch(self, body: bytes, context):
        try:
            request = parse_request(opb.WatchRequest, body)  # bytes from outside: INVALID_ARGUMENT if undecodable
            with self._manager.limits.watch.held(request.match_id[:64]):
                batches = self._batches(request, max_batch(request))
                async for batch in batches:
                    yield wire.repeated_field(UPDATES, batch)
        except GametapError as e:
            await context.abort(code_for(e), str(e))

    def _batches(self, request: opb.WatchRequest, max_batch: int) -> AsyncIterator[list[bytes]]:
        """The stream's updates in batches: live, replayed, or replayed then live."""
        try:
            match = self._manager.get(request.match_id)
        except NotFound:
            path = recording_on_disk(self._manager.settings.state_dir, request.match_id)
            return replayed(Replay(path, request.from_frame), max_batch)
        if not request.from_frame:
            return _live(match.hub.subscribe(), max_batch)
        if match.recording_path is None:
            raise FailedPrecondition(f"match {match.id} is not recorded, so it cannot be watched from a past frame")
        if match.is_ended:
            return replayed(Replay(match.recording_path, request.from_frame), max_batch)
        return _replayed_then_live(match, request.from_frame, max_batch)

    async def get_state(self, body: bytes, context) -> bytes:
        """A serialized GetStateResponse{state}."""
        try:
            match = self._manager.get(parse_request(opb.GetStateRequest, body).match_id)
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        return wire.bytes_field(STATE, match.world.state())

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Watch": grpc.unary_stream_rpc_method_handler(
                self.watch, request_deserializer=serialized, response_serializer=serialized),
            "GetState": grpc.unary_unary_rpc_method_handler(
                self.get_state, request_deserializer=serialized,
                response_serializer=serialized),
        })


async def _live(sub: Subscriber, max_batch: int, first: list[bytes] | None = None) -> AsyncIterator[list[bytes]]:
    try:
        if first:
            yield first
        while (batch := await sub.next_batch(max_batch)) is not None:
            yield batch
    finally:
        sub.unsubscribe()


def max_batch(request: opb.WatchRequest) -> int:
    return min(max(request.max_batch, 1), MAX_BATCH)


async def replayed(replay: Replay, max_batch: int) -> AsyncIterator[list[bytes]]:
    """The replay's batches, each read in a worker thread (file reads and the keyframe's
    reconstruction must not stall the event loop)."""
    batches = replay.batches(max(max_batch, REPLAY_CHUNK))
    while (chunk := await asyncio.to_thread(next, batches, None)) is not None:
        for i in range(0, len(chunk), max_batch):
            yield chunk[i:i + max_batch]


async def _replayed_then_live(match, from_frame: int, max_batch: int) -> AsyncIterator[list[bytes]]:
    """Past frames from the recording up to where a live subscription begins, then live.
    Subscribing first means no frame falls between the two."""
    sub = match.hub.subscribe()
    try:
        (live_keyframe,) = await sub.next_batch(1)  # the state at the frame the game is at
        now = update_head(live_keyframe)[1]
        if from_frame > now:
            raise OutOfRange(f"from_frame {from_frame} is ahead of match {match.id} (at frame {now})")
        match.recorder.flush()
        replay = Replay(match.recording_path, from_frame, until_frame=now)
        async for batch in replayed(replay, max_batch):
            yield batch
        # The recording reached the live keyframe's frame, unless it was cut short
        # (record max_bytes): then the live keyframe resyncs the stream.
        first = None if replay.last_frame == now else [live_keyframe]
        async for batch in _live(sub, max_batch, first):
            yield batch
    finally:
        sub.unsubscribe()
