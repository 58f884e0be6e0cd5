"""Where the daemon's /ws gets its matches (gametap.httpapi.foxglove.MatchSource): every
worker's, passed on from their Watch streams."""
from __future__ import annotations

from collections.abc import Callable

import grpc

from gametap import wire
from gametap.daemon.pool import WorkerPool
from gametap.rpc.status import serialized
from gametap.v1 import observe_pb2 as opb
from gametap.worker import observe_service


class WatchedUpdates:
    """A match's updates read from its worker's Watch stream (opened on the first read)."""

    def __init__(self, channel: grpc.aio.Channel, match_id: str, batch: int, metadata: tuple):
        self._request = opb.WatchRequest(match_id=match_id, max_batch=batch).SerializeToString()
        self._channel, self._metadata = channel, metadata
        self._call = None

    async def next_batch(self, max_items: int) -> list[bytes] | None:
        if self._call is None:
            self._call = self._channel.unary_stream(observe_service.WATCH_METHOD, request_serializer=serialized,
                                                    response_deserializer=serialized)(self._request,
                                                                                      metadata=self._metadata)
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError:
            return None  # the worker ended the stream with an error: the subscription ends
        if response is grpc.aio.EOF:
            return None
        return wire.split_repeated(response, observe_service.UPDATES)

    def unsubscribe(self) -> None:
        if self._call is not None:
            self._call.cancel()


class WorkerMatches:
    def __init__(self, pool: WorkerPool):
        self._pool = pool
        self._channels: dict[tuple[int, int], grpc.aio.Channel] = {}

    def match_ids(self) -> list[str]:
        return self._pool.match_ids()

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        self._pool.add_listener(listener)

    def subscribe(self, match_id: str, queue_limit: int) -> WatchedUpdates | None:
        w = self._pool.worker_of(match_id)
        if w is None:
            return None
        return WatchedUpdates(self._pool.channel_to(w), match_id, min(queue_limit, 64), self._pool.internal_metadata)
