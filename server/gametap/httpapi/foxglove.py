"""The Foxglove WebSocket protocol (subprotocol foxglove.websocket.v1), the subset a viewer needs.

Server -> client: serverInfo, advertise / unadvertise (one channel per match, topic
/matches/<id>/world, encoding protobuf, schema gametap.v1.WorldUpdate as a base64
FileDescriptorSet), status, and binary message frames
[0x01][uint32 subscription id][uint64 receive time ns][serialized WorldUpdate].
Client -> server: subscribe, unsubscribe. A subscriber starts with a keyframe of the
current frame, then gets every delta; one that falls behind (or goes faster than
MAX_RATE updates/s) is resynced at the next keyframe. Anything malformed gets a
status message with level error; the connection and the daemon carry on.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from aiohttp import WSMsgType, web
from google.protobuf import descriptor_pb2

from gametap import __version__
from gametap.core import limits
from gametap.core.auth import Gate, Role, http_token
from gametap.core.limits import Limits
from gametap.v1 import observe_pb2

log = logging.getLogger(__name__)

SUBPROTOCOL = "foxglove.websocket.v1"
SCHEMA_NAME = "gametap.v1.WorldUpdate"
MAX_CLIENT_MESSAGE = 64 * 1024   # bytes of one client message we read
MAX_FRAME = 4 * 1024 * 1024      # larger frames end the connection (aiohttp's own check)
QUEUE_LIMIT = 256                # updates a subscriber may fall behind before a resync
MAX_RATE = 240.0                 # updates per second per subscription
BATCH = 64
MESSAGE_DATA = struct.Struct("<BIQ")  # opcode 0x01, subscription id, receive time (ns)
STATUS_INFO, STATUS_WARNING, STATUS_ERROR = 0, 1, 2


def file_descriptor_set() -> bytes:
    """The schema of WorldUpdate and everything it uses, dependencies first."""
    fds, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(fd) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        fd.CopyToProto(fds.file.add())

    add(observe_pb2.DESCRIPTOR)
    return fds.SerializeToString()


class ProtocolError(Exception):
    pass


class Subscription(Protocol):
    """A match's updates for one subscriber (gametap.worker.hub.Subscriber, or a proxied Watch)."""

    async def next_batch(self, max_items: int) -> list[bytes] | None: ...
    def unsubscribe(self) -> None: ...


class MatchSource(Protocol):
    """The matches a websocket server offers: a worker's own, or (the daemon) every worker's."""

    def match_ids(self) -> list[str]: ...
    def add_listener(self, listener: Callable[[str, str], None]) -> None: ...  # ("created" | "removed" | ..., id)
    def subscribe(self, match_id: str, queue_limit: int) -> Subscription | None: ...


class FoxgloveServer:
    def __init__(self, source: MatchSource, limits: Limits | None = None, gate: Gate | None = None):
        self.source = source
        self.limits = limits or Limits()
        self.gate = gate or Gate({})  # the app's token check let each connection in; a reload may end it
        self._schema = base64.b64encode(file_descriptor_set()).decode()
        self._channel_of: dict[str, int] = {}   # match id -> channel id (never reused)
        self._match_of: dict[int, str] = {}
        self._next_channel = 1
        self._connections: set[Connection] = set()
        source.add_listener(self._on_match)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def channel(self, match_id: str) -> dict:
        if match_id not in self._channel_of:
            self._channel_of[match_id] = self._next_channel
            self._match_of[self._next_channel] = match_id
            self._next_channel += 1
        return {"id": self._channel_of[match_id], "topic": f"/matches/{match_id}/world", "encoding": "protobuf",
                "schemaName": SCHEMA_NAME, "schema": self._schema, "schemaEncoding": "protobuf"}

    def match_for_channel(self, channel_id: int) -> str | None:
        match_id = self._match_of.get(channel_id)
        return match_id if match_id in self.source.match_ids() else None

    def _on_match(self, what: str, match_id: str) -> None:
        for conn in list(self._connections):
            if what == "created":
                conn.send_json({"op": "advertise", "channels": [self.channel(match_id)]})
            elif what == "removed" and match_id in self._channel_of:
                conn.send_json({"op": "unadvertise", "channelIds": [self._channel_of[match_id]]})

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # No permessage-deflate: at 240 updates per second per viewer, compressing cost more CPU than
        # everything else a viewer takes (measured), for a few hundred bytes per update.
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=MAX_FRAME, heartbeat=30, compress=False)
        await ws.prepare(request)
        conn = Connection(self, ws)
        if ws.ws_protocol != SUBPROTOCOL:
            await ws.send_json({"op": "status", "level": STATUS_ERROR,
                                "message": f"use the websocket subprotocol {SUBPROTOCOL}"})
            await ws.close(code=1002, message=b"subprotocol required")
            return ws
        if len(self._connections) >= self.limits["websockets"]:
            error = limits.over("websockets", self.limits["websockets"], len(self._connections), "too many viewers")
            await ws.send_json({"op": "status", "level": STATUS_ERROR, "message": str(error)})
            await ws.close(code=1013, message=b"try again later")  # 1013: the server is overloaded
            return ws
        self._connections.add(conn)
        try:
            with self.gate.held(http_token(request.headers, request.query), Role.OBSERVE, conn.revoke):
                await conn.run()
        finally:
            self._connections.discard(conn)
            await conn.close()
        return ws

    async def shutdown(self) -> None:
        for conn in list(self._connections):
            await conn.ws.close(code=1001, message=b"server shutting down")


class Connection:
    def __init__(self, server: FoxgloveServer, ws: web.WebSocketResponse):
        self.server = server
        self.ws = ws
        self.senders: dict[int, asyncio.Task] = {}  # subscription id -> its sender
        self._closing: asyncio.Task | None = None   # revoke()'s close, while it runs

    def send_json(self, message: dict) -> None:
        if not self.ws.closed:
            asyncio.ensure_future(self._send_json(message))

    async def _send_json(self, message: dict) -> None:
        try:
            await self.ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; run() notices

    def status(self, level: int, message: str) -> None:
        self.send_json({"op": "status", "level": level, "message": message})

    def revoke(self, error: Exception) -> None:
        """Its token no longer allows it (a reload): say why, then close (1008: policy violation)."""
        self._closing = asyncio.ensure_future(self._close_for({"op": "status", "level": STATUS_ERROR,
                                                               "message": str(error)}))

    async def _close_for(self, status: dict) -> None:
        await self._send_json(status)
        await self.ws.close(code=1008, message=b"access revoked")

    async def run(self) -> None:
        await self.ws.send_json({"op": "serverInfo", "name": f"gametap {__version__}", "capabilities": [],
                                 "supportedEncodings": [], "metadata": {}, "sessionId": uuid.uuid4().hex})
        await self.ws.send_json({"op": "advertise",
                                 "channels": [self.server.channel(m) for m in self.server.source.match_ids()]})
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    self._handle_text(msg.data)
                except ProtocolError as e:
                    self.status(STATUS_ERROR, str(e))
            elif msg.type == WSMsgType.BINARY:
                self.status(STATUS_ERROR, "binary client messages are not supported (no clientPublish)")
            elif msg.type == WSMsgType.ERROR:
                break

    def _handle_text(self, text: str) -> None:
        if len(text) > MAX_CLIENT_MESSAGE:
            raise ProtocolError(f"message of {len(text)} bytes is larger than {MAX_CLIENT_MESSAGE}")
        try:
            message = json.loads(text)
        except ValueError as e:
            raise ProtocolError(f"message is not JSON: {e}") from None
        except RecursionError:  # e.g. 2 KB of "[": json's parser recurses once per level
            raise ProtocolError("message is nested too deeply to be a Foxglove message") from None
        if not isinstance(message, dict):
            raise ProtocolError("message is not a JSON object")
        op = message.get("op")
        if op == "subscribe":
            for sub in _list(message, "subscriptions"):
                self._subscribe(sub)
        elif op == "unsubscribe":
            for sub_id in _list(message, "subscriptionIds"):
                self._unsubscribe(sub_id)
        else:
            raise ProtocolError(f"unknown op {str(op)[:40]!r}")

    def _subscribe(self, sub) -> None:
        if not isinstance(sub, dict) or not _is_int(sub.get("id")) or not _is_int(sub.get("channelId")):
            raise ProtocolError("a subscription needs integer id and channelId")
        sub_id, channel_id = sub["id"], sub["channelId"]
        if sub_id in self.senders:
            raise ProtocolError(f"subscription id {sub_id} is in use")
        limit = self.server.limits["subscriptions_per_websocket"]
        if len(self.senders) >= limit:
            raise ProtocolError(str(limits.over("subscriptions_per_websocket", limit, len(self.senders),
                                                "too many subscriptions on this connection")))
        match_id = self.server.match_for_channel(channel_id)
        sub = self.server.source.subscribe(match_id, QUEUE_LIMIT) if match_id else None
        if sub is None:
            raise ProtocolError(f"no channel {channel_id}")
        self.senders[sub_id] = asyncio.create_task(self._send_updates(sub_id, sub))

    def _unsubscribe(self, sub_id) -> None:
        task = self.senders.pop(sub_id, None) if _is_int(sub_id) else None
        if task is None:
            raise ProtocolError(f"no subscription {str(sub_id)[:40]}")
        task.cancel()

    async def _send_updates(self, sub_id: int, sub: Subscription) -> None:
        interval, next_at = 1.0 / MAX_RATE, 0.0
        try:
            while (batch := await sub.next_batch(BATCH)) is not None:
                for update in batch:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)  # meanwhile the hub resyncs us if we fall behind
                    next_at = max(next_at, time.monotonic() - 1.0) + interval
                    await self.ws.send_bytes(MESSAGE_DATA.pack(0x01, sub_id, time.time_ns()) + update)
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            sub.unsubscribe()

    async def close(self) -> None:
        for task in self.senders.values():
            task.cancel()
        await asyncio.gather(*self.senders.values(), return_exceptions=True)
        self.senders.clear()


def _list(message: dict, key: str) -> list:
    value = message.get(key)
    if not isinstance(value, list):
        raise ProtocolError(f"{message.get('op')}: {key} must be a list")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32
