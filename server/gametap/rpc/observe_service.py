"""gametap.v1.ObserveService.

The daemon holds updates and state already serialized, so both handlers are
registered with an identity response serializer and return response bytes
assembled from those parts (gametap.wire): nothing is parsed or re-encoded here.
"""
from __future__ import annotations

import grpc

from gametap import wire
from gametap.errors import GametapError
from gametap.manager import MatchManager
from gametap.rpc.status import code_for, serialized
from gametap.v1 import observe_pb2 as opb

SERVICE = "gametap.v1.ObserveService"
MAX_BATCH = 4096


class ObserveService:
    def __init__(self, manager: MatchManager):
        self._manager = manager

    async def watch(self, request: opb.WatchRequest, context):
        try:
            match = self._manager.get(request.match_id)
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        max_batch = min(max(request.max_batch, 1), MAX_BATCH)
        sub = match.hub.subscribe()
        try:
            while (batch := await sub.next_batch(max_batch)) is not None:
                yield b"".join([wire.bytes_field(1, u) for u in batch])
        finally:
            sub.unsubscribe()

    async def get_state(self, request: opb.GetStateRequest, context) -> bytes:
        """A serialized GetStateResponse{state}."""
        try:
            match = self._manager.get(request.match_id)
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        return wire.bytes_field(1, match.builder.state_bytes())

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Watch": grpc.unary_stream_rpc_method_handler(
                self.watch, request_deserializer=opb.WatchRequest.FromString, response_serializer=serialized),
            "GetState": grpc.unary_unary_rpc_method_handler(
                self.get_state, request_deserializer=opb.GetStateRequest.FromString,
                response_serializer=serialized),
        })
