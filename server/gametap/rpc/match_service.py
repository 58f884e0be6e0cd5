"""gametap.v1.MatchService, answered by the daemon from its workers (gametap.worker.pool).

Requests arrive as bytes and are parsed here, so one that does not decode gets
INVALID_ARGUMENT like any other bad input (grpcio's own deserializers answered UNKNOWN and
logged a traceback per request)."""
from __future__ import annotations

import grpc

from gametap.errors import GametapError
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import match_pb2 as mpb
from gametap.worker.pool import WorkerPool

SERVICE = mpb.DESCRIPTOR.services_by_name["MatchService"]


class MatchService:
    def __init__(self, pool: WorkerPool):
        self._pool = pool

    async def CreateMatch(self, request: mpb.CreateMatchRequest) -> mpb.Match:
        return await self._pool.create(request.config, request.placement_group)

    async def ListMatches(self, request: mpb.ListMatchesRequest) -> mpb.ListMatchesResponse:
        return mpb.ListMatchesResponse(matches=await self._pool.list())

    async def GetMatch(self, request: mpb.GetMatchRequest) -> mpb.Match:
        return await self._pool.get(request.match_id)

    async def StopMatch(self, request: mpb.StopMatchRequest) -> mpb.Match:
        return await self._pool.stop(request.match_id)

    async def RunCommand(self, request: mpb.RunCommandRequest) -> mpb.RunCommandResponse:
        return mpb.RunCommandResponse(output=await self._pool.run_command(request.match_id, request.command))

    async def DescribeGame(self, request: mpb.DescribeGameRequest) -> mpb.GameDescription:
        return self._pool.game.describe()

    def handler(self) -> grpc.GenericRpcHandler:
        """Every method of the service, each parsing its own request."""
        return grpc.method_handlers_generic_handler(SERVICE.full_name, {
            m.name: grpc.unary_unary_rpc_method_handler(
                self._answering(getattr(self, m.name), getattr(mpb, m.input_type.name)),
                request_deserializer=serialized, response_serializer=lambda r: r.SerializeToString())
            for m in SERVICE.methods})

    @staticmethod
    def _answering(method, request_type):
        async def answer(body: bytes, context):
            try:
                return await method(parse_request(request_type, body))
            except GametapError as e:
                await context.abort(code_for(e), str(e))
        return answer
