"""gametap.v1.AgentService: Play streams.

LOCKSTEP streams alternate: the handler sends an observation, reads the stream's one
answer (an act, or a leave), and waits for the next observation, all in one task, as
cheap per step as gRPC allows. REALTIME streams read requests in a task of their own
while observations are written as they come. Both directions stay bytes: observations
arrive pre-serialized from the hot path, and an ActionBatch goes to the hot path as the
client sent it (only a join or a leave is parsed here). A bad request ends the stream
with its status; the match carries on.
"""
from __future__ import annotations

import asyncio
import functools

import grpc

from gametap import wire
from gametap.core.errors import FailedPrecondition, GametapError, InvalidArgument
from gametap.rpc.status import code_for, parse_request, serialized
from gametap.v1 import agent_pb2 as apb
from gametap.worker import play_many
from gametap.worker.manager import MatchManager

SERVICE = "gametap.v1.AgentService"
PLAY_METHOD = f"/{SERVICE}/Play"
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
        requests = aiter(requests)
        try:
            await match.agents.wait_joined(session)
            yield session.joined_message(match.id, match.config.clock, match.game.feature_size)
            if match.agents.lockstep:
                async for message in self._alternate(requests, match, session):
                    yield message
            else:
                reader = asyncio.create_task(self._read(requests, match, session, error))
                try:
                    while (message := await session.outbox.get()) is not None:
                        yield message
                finally:
                    reader.cancel()
        except GametapError as e:
            error.append(e)
        finally:
            match.agents.close_session(session)
        if error:
            await context.abort(code_for(error[0]), str(error[0]))

    @staticmethod
    async def _alternate(requests, match, session):
        """LOCKSTEP: observation, answer, observation ... (the gate waits for the answer)."""
        outbox = session.outbox
        while (message := await outbox.get()) is not None:
            yield message
            while not outbox.qsize() and not session.closed:  # read until an observation is due
                try:
                    request = await anext(requests)
                except (StopAsyncIteration, grpc.RpcError):  # the client closed its side, or went away
                    session.close()
                    break
                _handle(match, session, request)
                if session.active:
                    break  # the step goes on: its observation comes next

    @staticmethod
    async def _read(requests, match, session, error: list) -> None:
        try:
            async for request in requests:
                _handle(match, session, request)
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
            play_many.METHOD: grpc.stream_stream_rpc_method_handler(
                functools.partial(play_many.play_many, self._manager), request_deserializer=serialized, response_serializer=serialized),
        })


def _handle(match, session, request: bytes) -> None:
    """One request after the join; raises the GametapError that ends the stream."""
    kind, body = split_request(request)
    if kind == ACT:
        match.agents.on_actions(session, body)
    elif kind == LEAVE:
        match.agents.leave(session, list(parse_request(apb.LeaveRequest, body).clients))
    elif kind == JOIN:
        raise FailedPrecondition("this stream has joined already; open another stream for more slots")
    else:
        raise InvalidArgument("kind", "empty request")
