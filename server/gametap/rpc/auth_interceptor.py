"""Checks every gRPC call's token against the role its method needs (gametap.core.auth), and ends a
stream the moment a reload takes its token's right away (Gate.replace)."""
from __future__ import annotations

import asyncio
import contextlib

import grpc

from gametap.core.auth import METHOD_ROLES, Gate, Role, bearer
from gametap.core.errors import GametapError
from gametap.rpc.status import code_for

_ending: set[asyncio.Task] = set()  # revoked streams being ended (a task needs a reference)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, gate: Gate):
        self._gate = gate

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        needed = METHOD_ROLES.get(details.method)
        if handler is None or needed is None:
            return handler
        metadata = dict(details.invocation_metadata or ())
        token = bearer(metadata.get("authorization"))
        try:
            self._gate.check(token, needed)
        except GametapError as e:
            return _refusing(handler, code_for(e), str(e))
        return _revocable(handler, self._gate, token, needed) if handler.response_streaming else handler


def _make(handler: grpc.RpcMethodHandler, behaviour) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler`, running `behaviour`."""
    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return make(behaviour, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with `code`."""
    async def refuse(request, context):
        await context.abort(code, message)

    return _make(handler, refuse)


def _revocable(handler: grpc.RpcMethodHandler, gate: Gate, token: str | None, needed: Role) -> grpc.RpcMethodHandler:
    """The streaming `handler`, held in the gate while it runs: revoked, the call gets the error's
    status at once and its handler is cancelled (its own cleanup runs). Costs nothing per message
    but one generator step."""
    streams = handler.stream_stream if handler.request_streaming else handler.unary_stream

    async def held(request, context):
        task = asyncio.current_task()  # grpc.aio runs each call in a task of its own

        def revoke(error: GametapError) -> None:
            ending = asyncio.ensure_future(_end(context, task, error))
            _ending.add(ending)
            ending.add_done_callback(_ending.discard)

        with gate.held(token, needed, revoke):
            async for response in streams(request, context):
                yield response

    return _make(handler, held)


async def _end(context, task: asyncio.Task, error: GametapError) -> None:
    with contextlib.suppress(Exception):  # abort raises AbortError here; or the call ended meanwhile
        await context.abort(code_for(error), str(error))
    task.cancel()
