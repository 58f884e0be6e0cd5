"""gametap.v1.AgentService: Play streams.

The handler reads requests in a task of its own and writes what the session
queues. Both directions stay bytes: observations arrive pre-serialized from the
hot path, and an ActionBatch goes to the hot path as the client sent it (only a
join or a leave is parsed here). A bad request ends the stream with its status;
the match carries on.
"""
from __future__ import annotations

import asyncio

import grpc

from gametap import wire
from gametap.errors import FailedPrecondition, GametapError, InvalidArgument, Unavailable
from gametap.manager import MatchManager
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import agent_pb2 as apb

SERVICE = "gametap.v1.AgentService"
JOIN_TIMEOUT_S = 30.0
JOIN, ACT, LEAVE = (wire.field_number(apb.PlayRequest, name) for name in ("join", "act", "leave"))
_KINDS = frozenset((JOIN, ACT, LEAVE))


def split_request(data: bytes) -> tuple[int, bytes]:
    """(JOIN | ACT | LEAVE | 0, the member's bytes) of a serialized PlayRequest."""
    try:
        return wire.split_oneof(data, _KINDS)
    except ValueError as e:
        raise InvalidArgument("request", f"not a PlayRequest ({e})") from None


class AgentService:
    def __init__(self, manager: MatchManager):
        self._manager = manager

    async def play(self, requests, context):
        try:
            first = await anext(aiter(requests), None)
            kind, body = split_request(first) if first is not None else (0, b"")
            if kind != JOIN:
                raise InvalidArgument("join", "the first request of a Play stream must be a join")
            join = parse_request(apb.JoinRequest, body)
            match = self._manager.get(join.match_id)
            session = match.agents.join(join)
        except GametapError as e:
            await context.abort(code_for(e), str(e))
        error: list[GametapError] = []
        reader = asyncio.create_task(self._read(requests, match, session, error))
        try:
            await self._await_joined(match, session)
            yield session.joined_message(match.id, match.config.clock, match.game.feature_size)
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
                kind, body = split_request(req)
                if kind == ACT:
                    match.agents.on_actions(session, body)
                elif kind == LEAVE:
                    match.agents.leave(session, list(parse_request(apb.LeaveRequest, body).clients))
                elif kind == JOIN:
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
                self.play, request_deserializer=serialized, response_serializer=serialized),
        })
