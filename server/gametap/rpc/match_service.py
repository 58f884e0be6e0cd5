"""gametap.v1.MatchService, answered by the daemon from its workers (gametap.worker.pool)."""
from __future__ import annotations

from gametap.rpc.status import translate_errors
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import match_pb2_grpc
from gametap.worker.pool import WorkerPool


class MatchService(match_pb2_grpc.MatchServiceServicer):
    def __init__(self, pool: WorkerPool):
        self._pool = pool

    @translate_errors
    async def CreateMatch(self, request: mpb.CreateMatchRequest, context) -> mpb.Match:
        return await self._pool.create(request.config, request.placement_group)

    @translate_errors
    async def ListMatches(self, request, context) -> mpb.ListMatchesResponse:
        return mpb.ListMatchesResponse(matches=await self._pool.list())

    @translate_errors
    async def GetMatch(self, request: mpb.GetMatchRequest, context) -> mpb.Match:
        return await self._pool.get(request.match_id)

    @translate_errors
    async def StopMatch(self, request: mpb.StopMatchRequest, context) -> mpb.Match:
        return await self._pool.stop(request.match_id)

    @translate_errors
    async def RunCommand(self, request: mpb.RunCommandRequest, context) -> mpb.RunCommandResponse:
        return mpb.RunCommandResponse(output=await self._pool.run_command(request.match_id, request.command))
