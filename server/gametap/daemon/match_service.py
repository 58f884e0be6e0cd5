"""gametap.v1.MatchService and ArchiveService, answered by the daemon from its workers and its
archive (gametap.daemon.pool).

Requests arrive as bytes and are parsed here, so one that does not decode gets
INVALID_ARGUMENT like any other bad input (grpcio's own deserializers answered UNKNOWN and
logged a traceback per request)."""
from __future__ import annotations

import asyncio

import grpc

from gametap.core.errors import GametapError
from gametap.daemon.pool import WorkerPool
from gametap.recordings.paths import recording_on_disk
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb

SERVICE = mpb.DESCRIPTOR.services_by_name["MatchService"]
ARCHIVE_SERVICE = arpb.DESCRIPTOR.services_by_name["ArchiveService"]
READ_CHUNK = 1 << 20


class MatchService:
    def __init__(self, pool: WorkerPool):
        self._pool = pool

    async def CreateMatch(self, request: mpb.CreateMatchRequest) -> mpb.Match:
        return self._shown(await self._pool.create(request.config, request.placement_group))

    async def ListMatches(self, request: mpb.ListMatchesRequest) -> mpb.ListMatchesResponse:
        matches = await self._pool.list(request.filter or mpb.MATCH_FILTER_ALL)
        return mpb.ListMatchesResponse(matches=[self._shown(m) for m in matches])

    async def GetMatch(self, request: mpb.GetMatchRequest) -> mpb.Match:
        return self._shown(await self._pool.get(request.match_id))

    async def StopMatch(self, request: mpb.StopMatchRequest) -> mpb.Match:
        return self._shown(await self._pool.stop(request.match_id))

    def _shown(self, m: mpb.Match) -> mpb.Match:
        """The match as callers see it: with where the viewer shows it."""
        if self._pool.viewer_base:
            shown = mpb.Match()
            shown.CopyFrom(m)
            shown.viewer_url = f"{self._pool.viewer_base}#/match/{m.id}"
            return shown
        return m

    async def RunCommand(self, request: mpb.RunCommandRequest) -> mpb.RunCommandResponse:
        return mpb.RunCommandResponse(output=await self._pool.run_command(request.match_id, request.command))

    async def DescribeGame(self, request: mpb.DescribeGameRequest) -> mpb.GameDescription:
        return self._pool.game.describe()

    def handler(self) -> grpc.GenericRpcHandler:
        return unary_handler(SERVICE, self, mpb)


class ArchiveService:
    """gametap.v1.ArchiveService: what a match's recording says, and removing it."""

    def __init__(self, pool: WorkerPool):
        self._pool = pool

    async def GetRecording(self, request: arpb.GetRecordingRequest) -> arpb.RecordingInfo:
        return await self._pool.describe_recording(request.match_id, request.verify)

    async def DeleteRecording(self, request: arpb.DeleteRecordingRequest) -> arpb.DeleteRecordingResponse:
        return arpb.DeleteRecordingResponse(bytes_freed=await self._pool.delete_recording(request.match_id))

    async def ReadRecording(self, body: bytes, context):
        """The recording file's bytes, in chunks read off the event loop."""
        try:
            request = parse_request(arpb.ReadRecordingRequest, body)
            path = recording_on_disk(self._pool.settings.state_dir, request.match_id)
            with open(path, "rb") as f:
                while chunk := await asyncio.to_thread(f.read, READ_CHUNK):
                    yield arpb.RecordingChunk(data=chunk).SerializeToString()
        except GametapError as e:
            await context.abort(code_for(e), str(e))

    def handler(self) -> grpc.GenericRpcHandler:
        unary = {m for m in ARCHIVE_SERVICE.methods if not m.server_streaming}
        handlers = unary_handler(ARCHIVE_SERVICE, self, arpb, unary)
        return grpc.method_handlers_generic_handler(ARCHIVE_SERVICE.full_name, {
            **handlers, "ReadRecording": grpc.unary_stream_rpc_method_handler(
                self.ReadRecording, request_deserializer=serialized, response_serializer=serialized)})


def unary_handler(service, impl, messages, methods=None):
    """The unary methods of a service (all of them, or those given), each parsing its own request
    (a type of the generated module `messages`) and answering with impl's method of the same
    name: a GenericRpcHandler, or with `methods` given, its handlers by name."""
    handlers = {m.name: grpc.unary_unary_rpc_method_handler(
        _answering(getattr(impl, m.name), getattr(messages, m.input_type.name)),
        request_deserializer=serialized, response_serializer=lambda r: r.SerializeToString())
        for m in (methods if methods is not None else service.methods)}
    return handlers if methods is not None else grpc.method_handlers_generic_handler(service.full_name, handlers)


def _answering(method, request_type):
    async def answer(body: bytes, context):
        try:
            return await method(parse_request(request_type, body))
        except GametapError as e:
            await context.abort(code_for(e), str(e))
    return answer
