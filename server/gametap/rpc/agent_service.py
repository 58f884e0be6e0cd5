"""gametap.v1.AgentService: Play streams.

The handler reads requests in a task of its own and writes what the session
queues (observations arrive pre-serialized, so the response serializer is the
identity). A bad request ends the stream with its status; the match carries on.
"""
from __future__ import annotations

import asyncio

import grpc

from gametap.errors import FailedPrecondition, GametapError, InvalidArgument, Unavailable
from gametap.manager import MatchManager
from gametap.rpc.status import code_for, serialized
from gametap.v1 import agent_pb2 as apb

SERVICE = "gametap.v1.AgentService"
JOIN_TIMEOUT_S = 30.0


class AgentService:
    def __init__(self, manager: MatchManager):
        self._manager = manager

    async def play(self, requests, context):
        try:
            first = await anext(aiter(requests), None)
            if first is None or first.WhichOneof("kind") != "join":
                raise InvalidArgument("join", "the first request of a Play stream must be a join")
            match = self._manager.get(first.join.match_id)
            session = match.agents.join(first.join)
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        error: list[GametapError] = []
        reader = asyncio.create_task(self._read(requests, match, session, error))
        try:
            await self._await_joined(match, session)
            yield session.joined_message(match.id, match.config.clock)
            while (message := await session.outbox.get()) is not None:
                yield message
        except GametapError as e:
            error.append(e)
        finally:
            reader.cancel()
            match.agents.close_session(session)
        if error:
            await context.abort(code_for(error[0]), str(error[0]))

    @staticmethod
    async def _await_joined(match, session) -> None:
        # A held LOCKSTEP match waits for every agent it holds for: no time limit then.
        timeout = None if match.agents.holding else JOIN_TIMEOUT_S
        try:
            await asyncio.wait_for(asyncio.shield(session.joined), timeout)
        except TimeoutError:
            raise Unavailable(f"the game did not add the players within {JOIN_TIMEOUT_S:.0f} s") from None

    @staticmethod
    async def _read(requests, match, session, error: list) -> None:
        try:
            async for req in requests:
                kind = req.WhichOneof("kind")
                if kind == "act":
                    match.agents.on_actions(session, req.act)
                elif kind == "leave":
                    match.agents.leave(session, list(req.leave.clients))
                elif kind == "join":
                    raise FailedPrecondition("this stream has joined already; open another stream for more slots")
                else:
                    raise InvalidArgument("kind", "empty request")
        except GametapError as e:
            error.append(e)
            session.close()
        except asyncio.CancelledError:
            raise
        except grpc.RpcError:
            session.close()  # the client went away
        else:
            session.close()  # the client closed its side: the stream ends, the slots leave

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Play": grpc.stream_stream_rpc_method_handler(
                self.play, request_deserializer=apb.PlayRequest.FromString, response_serializer=serialized),
        })
