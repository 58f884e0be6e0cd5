"""GametapError -> gRPC status, in one place; and the pass-through serializer of handlers
that keep messages as bytes."""
from __future__ import annotations

import grpc

from gametap.core.errors import (
    DataLoss,
    FailedPrecondition,
    GametapError,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

_CODES = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    DataLoss: grpc.StatusCode.DATA_LOSS,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def serialized(message: bytes) -> bytes:
    """The identity: the (de)serializer of handlers that take or return messages as bytes."""
    return message


def parse_request(message_type, data: bytes):
    """A request message from the bytes a handler with the identity deserializer got."""
    try:
        return message_type.FromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise InvalidArgument("request", f"not a valid {message_type.DESCRIPTOR.name} ({e})") from None


def code_for(error: GametapError) -> grpc.StatusCode:
    return _CODES.get(type(error), grpc.StatusCode.INTERNAL)
