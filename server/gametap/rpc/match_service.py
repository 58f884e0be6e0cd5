"""gametap.v1.MatchService."""
from __future__ import annotations

from gametap.manager import MatchManager
from gametap.rpc.status import translate_errors
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import match_pb2_grpc


class MatchService(match_pb2_grpc.MatchServiceServicer):
    def __init__(self, manager: MatchManager):
        self._manager = manager

    @translate_errors
    async def CreateMatch(self, request: mpb.CreateMatchRequest, context) -> mpb.Match:
        match = await self._manager.create(request.config)
        return match.to_proto()

    @translate_errors
    async def ListMatches(self, request, context) -> mpb.ListMatchesResponse:
        return mpb.ListMatchesResponse(matches=[m.to_proto() for m in self._manager.list()])

    @translate_errors
    async def GetMatch(self, request: mpb.GetMatchRequest, context) -> mpb.Match:
        return self._manager.get(request.match_id).to_proto()

    @translate_errors
    async def StopMatch(self, request: mpb.StopMatchRequest, context) -> mpb.Match:
        return (await self._manager.stop(request.match_id)).to_proto()

    @translate_errors
    async def RunCommand(self, request: mpb.RunCommandRequest, context) -> mpb.RunCommandResponse:
        match = self._manager.get(request.match_id)
        return mpb.RunCommandResponse(output=await match.run_command(request.command))
