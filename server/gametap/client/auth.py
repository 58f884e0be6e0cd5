"""Channels to a daemon: over TLS when asked (gametap.client.tls), and sending its access
token with every call (`authorization: Bearer TOKEN`).

The token comes from the caller or, when none is given, from $GAMETAP_TOKEN; with neither,
no token is sent (a daemon with no tokens configured asks for none)."""
from __future__ import annotations

import collections
import os

import grpc

from gametap.client.tls import ClientTls

_MAX_RECEIVE = [("grpc.max_receive_message_length", 64 << 20)]


def resolve_token(token: str | None) -> str | None:
    return token if token is not None else os.environ.get("GAMETAP_TOKEN") or None


class _Details(collections.namedtuple("_Details", "method timeout metadata credentials wait_for_ready compression"),
               grpc.ClientCallDetails):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                   grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, d: grpc.ClientCallDetails) -> _Details:
        return _Details(d.method, d.timeout, [*(d.metadata or ()), self._header], d.credentials,
                        d.wait_for_ready, d.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


def channel(address: str, token: str | None = None, tls: ClientTls | None = None) -> grpc.Channel:
    if tls is None:
        plain = grpc.insecure_channel(address, options=_MAX_RECEIVE)
    else:
        plain = grpc.secure_channel(address, tls.grpc_credentials(), options=_MAX_RECEIVE + tls.grpc_options())
    token = resolve_token(token)
    return grpc.intercept_channel(plain, _BearerToken(token)) if token else plain


class _AsyncToken:
    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, d: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(d.metadata or ()), self._header)
        return grpc.aio.ClientCallDetails(d.method, d.timeout, metadata, d.credentials, d.wait_for_ready)


# grpc.aio files an interceptor under the first kind it is, so each kind gets its own class.
class _AsyncUnaryUnary(_AsyncToken, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


class _AsyncUnaryStream(_AsyncToken, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


class _AsyncStreamUnary(_AsyncToken, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, requests):
        return await continuation(self._with_token(details), requests)


class _AsyncStreamStream(_AsyncToken, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, requests):
        return await continuation(self._with_token(details), requests)


def aio_channel(address: str, token: str | None = None, tls: ClientTls | None = None) -> grpc.aio.Channel:
    token = resolve_token(token)
    interceptors = [kind(token) for kind in (_AsyncUnaryUnary, _AsyncUnaryStream, _AsyncStreamUnary,
                                             _AsyncStreamStream)] if token else None
    if tls is None:
        return grpc.aio.insecure_channel(address, options=_MAX_RECEIVE, interceptors=interceptors)
    return grpc.aio.secure_channel(address, tls.grpc_credentials(), options=_MAX_RECEIVE + tls.grpc_options(),
                                   interceptors=interceptors)
