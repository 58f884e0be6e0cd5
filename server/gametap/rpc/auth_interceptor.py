"""Checks every gRPC call's token against the role its method needs (gametap.auth)."""
from __future__ import annotations

import grpc

from gametap.auth import METHOD_ROLES, Gate, bearer
from gametap.errors import GametapError
from gametap.rpc.status import code_for


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, gate: Gate):
        self._gate = gate

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        needed = METHOD_ROLES.get(details.method)
        if handler is None or needed is None:
            return handler
        metadata = dict(details.invocation_metadata or ())
        try:
            self._gate.check(bearer(metadata.get("authorization")), needed)
        except GametapError as e:
            return _refusing(handler, code_for(e), str(e))
        return handler


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with `code`."""
    async def refuse(request, context):
        await context.abort(code, message)

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return make(refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
