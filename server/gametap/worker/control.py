"""The control channel between the daemon and one worker: a socketpair the worker inherits.

Each message is [u32 length][msgpack map]. The daemon sends requests
{"id": n, "op": ..., ...}; the worker answers each with {"id": n, "ok": value} or
{"id": n, "error": [error class name, message]} and, unasked, sends events
{"event": ...}. Small and schemaless on purpose (DESIGN: msgpack for small evolving
messages between processes); the per-frame and per-step bytes never pass here.
"""
from __future__ import annotations

import asyncio
import struct

import msgpack

from gametap.core import errors

HEAD = struct.Struct("<I")
MAX_MESSAGE = 64 * 1024 * 1024  # a ListMatches answer of many matches stays far below
_ERRORS = {cls.__name__: cls for cls in vars(errors).values()
           if isinstance(cls, type) and issubclass(cls, errors.GametapError)}


class ControlError(Exception):
    """The other side sent bytes that are not a control message."""


def encode(message: dict) -> bytes:
    body = msgpack.packb(message, use_bin_type=True)
    if len(body) > MAX_MESSAGE:
        raise ControlError(f"control message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    return HEAD.pack(len(body)) + body


class Decoder:
    """Splits the byte stream into messages (maps with string keys), checking each."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict]:
        self._buf += data
        out, pos = [], 0
        while len(self._buf) - pos >= HEAD.size:
            (size,) = HEAD.unpack_from(self._buf, pos)
            if size > MAX_MESSAGE:
                raise ControlError(f"control message of {size} bytes exceeds {MAX_MESSAGE}")
            if len(self._buf) - pos - HEAD.size < size:
                break
            body = bytes(self._buf[pos + HEAD.size:pos + HEAD.size + size])
            pos += HEAD.size + size
            out.append(_decode(body))
        del self._buf[:pos]
        return out


def _decode(body: bytes) -> dict:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types
        raise ControlError(f"control message is not msgpack ({e})") from e
    if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
        raise ControlError("control message is not a map with string keys")
    return message


def error_reply(request_id, error: Exception) -> dict:
    name = type(error).__name__ if isinstance(error, errors.GametapError) else "GametapError"
    text = str(error) if isinstance(error, errors.GametapError) else f"internal error: {error!r}"
    return {"id": request_id, "error": [name, text]}


def raise_error(error) -> None:
    """Raises the GametapError an error reply names (the same class the worker raised)."""
    name, message = (error + ["", ""])[:2] if isinstance(error, list) else ("GametapError", str(error))
    cls = _ERRORS.get(name, errors.GametapError)
    if cls is errors.InvalidArgument:
        field, _, rest = str(message).partition(": ")
        raise errors.InvalidArgument(field, rest)
    raise cls(str(message))


class Channel(asyncio.Protocol):
    """One end of the control socket: sends messages, hands every message it receives to
    on_message, and tells on_closed why it ended (None: a clean close)."""

    def __init__(self, on_message, on_closed):
        self._on_message = on_message
        self._on_closed = on_closed
        self._decoder = Decoder()
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except ControlError as e:
            self._close(str(e))
            return
        for message in messages:
            self._on_message(message)

    def connection_lost(self, exc) -> None:
        self._close(str(exc) if exc else None)

    def _close(self, reason: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._transport is not None:
            self._transport.close()
        self._on_closed(reason)

    def send(self, message: dict) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(encode(message))

    def close(self) -> None:
        self._close(None)
