"""The daemon's ObserveService and AgentService: for any gRPC client of the published
protos, they pass a match's Watch, GetState and Play on to the worker that runs it,
bytes in, bytes out (nothing is parsed but the first request). gametap.client goes to the
worker itself (Match.placement), so this path carries only other clients' traffic.

A match whose worker is gone (it died, or the match is from before a restart) is
replayed here from its recording.
"""
from __future__ import annotations

import asyncio

import grpc

from gametap import wire
from gametap.core.errors import FailedPrecondition, GametapError, InvalidArgument
from gametap.daemon.pool import WorkerPool
from gametap.recordings.paths import recording_on_disk
from gametap.recordings.replay import Replay, final_state
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import observe_pb2 as opb
from gametap.worker import agent_service, observe_service


class Proxy:
    def __init__(self, pool: WorkerPool):
        self._pool = pool

    @staticmethod
    def _metadata(context) -> tuple:
        return tuple((k, v) for k, v in context.invocation_metadata() or () if k == "authorization")

    async def watch(self, request: bytes, context):
        try:
            req = parse_request(opb.WatchRequest, request)
            w = self._pool.worker_of(req.match_id)
            if w is None:
                path = recording_on_disk(self._pool.settings.state_dir, req.match_id)
                async for batch in observe_service.replayed(Replay(path, req.from_frame), observe_service.max_batch(req)):
                    yield wire.repeated_field(observe_service.UPDATES, batch)
                return
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        call = self._pool.channel_to(w).unary_stream(observe_service.WATCH_METHOD, request_serializer=serialized, response_deserializer=serialized)(
            request, metadata=self._metadata(context))
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as e:
            await context.abort(e.code(), e.details())

    async def get_state(self, request: bytes, context) -> bytes:
        try:
            req = parse_request(opb.GetStateRequest, request)
            await self._pool.upkeep.ready()
            self._pool.record(req.match_id)  # NotFound for a match the daemon never ran
            state = await self._pool.state(req.match_id)
            if state is None:  # its worker is gone: the recording has the last state
                state = await asyncio.to_thread(
                    final_state, recording_on_disk(self._pool.settings.state_dir, req.match_id))
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        return wire.bytes_field(observe_service.STATE, state)

    async def play(self, requests, context):
        try:
            first = await anext(aiter(requests), None)
            kind, body = agent_service.split_request(first) if first is not None else (0, b"")
            if kind != agent_service.JOIN:
                raise InvalidArgument("join", "the first request of a Play stream must be a join")
            match_id = parse_request(apb.JoinRequest, body).match_id
            m = self._pool.record(match_id)
            w = self._pool.worker_of(match_id)
            if w is None:
                raise FailedPrecondition(f"match {match_id} has ended; its worker no longer runs it "
                                         f"(status {m.status})")
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        call = self._pool.channel_to(w).stream_stream(agent_service.PLAY_METHOD, request_serializer=serialized, response_deserializer=serialized)(
            metadata=self._metadata(context))

        async def forward_requests():
            await call.write(first)
            async for request in requests:
                await call.write(request)
            await call.done_writing()

        pump = asyncio.create_task(forward_requests())
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as e:
            await context.abort(e.code(), e.details())
        finally:
            pump.cancel()
            call.cancel()

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(observe_service.SERVICE, {
                "Watch": grpc.unary_stream_rpc_method_handler(
                    self.watch, request_deserializer=serialized, response_serializer=serialized),
                "GetState": grpc.unary_unary_rpc_method_handler(
                    self.get_state, request_deserializer=serialized, response_serializer=serialized),
            }),
            grpc.method_handlers_generic_handler(agent_service.SERVICE, {
                "Play": grpc.stream_stream_rpc_method_handler(
                    self.play, request_deserializer=serialized, response_serializer=serialized),
            }),
        ]

