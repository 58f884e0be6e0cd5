"""Link protocol: framing and payload decoding (mirror of native/include/gametap_link.h).

Everything here is pure and synchronous so that it can be tested on bytes alone.
Every decoder validates its input and raises LinkProtocolError with a message
that says what was wrong; it never returns half-decoded data.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import msgpack

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 16 * 1024 * 1024

PLAYERSTATE_SIZE = 468
ENTITYSTATE_SIZE = 208
ENTITYSHARED_SIZE = 100
PLAYER_RECORD_SIZE = 4 + PLAYERSTATE_SIZE
ENTITY_RECORD_SIZE = 4 + ENTITYSTATE_SIZE + ENTITYSHARED_SIZE

HEADER = struct.Struct("<IHH")  # size, type, reserved
FRAME_HEADER = struct.Struct("<IiHHHHIHH")  # frame, level_time, players, entities, configstrings, flags, log_size, commands, reserved
CONFIGSTRING_HEAD = struct.Struct("<HH")  # index, length
COMMAND_HEAD = struct.Struct("<H")  # length
MAX_CONFIGSTRINGS = 1024


class LinkProtocolError(Exception):
    """The other side sent bytes that break the link protocol."""


class MsgType(enum.IntEnum):
    HELLO = 1
    WELCOME = 2
    MODULE = 3
    MODULE_OK = 4
    FRAME = 5
    COMMAND = 6
    END = 7
    ERROR = 8


class FrameFlags(enum.IntFlag):
    CAPTURED = 1
    RESET = 2


def encode_message(msg_type: MsgType, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise LinkProtocolError(f"{msg_type.name} payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(len(payload), msg_type, 0) + payload


def encode_control(msg_type: MsgType, fields: dict) -> bytes:
    return encode_message(msg_type, msgpack.packb(fields, use_bin_type=True))


def decode_control(msg_type: MsgType, payload: bytes | memoryview) -> dict:
    """A msgpack map with string keys (HELLO, WELCOME, MODULE, MODULE_OK, END, ERROR)."""
    try:
        value = msgpack.unpackb(bytes(payload), raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types
        raise LinkProtocolError(f"{msg_type.name}: payload is not valid msgpack ({e})") from e
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise LinkProtocolError(f"{msg_type.name}: payload must be a map with string keys")
    return value


class MessageReader:
    """Splits a byte stream into (type, payload) messages, checking every header."""

    def __init__(self, allowed: frozenset[MsgType] | None = None):
        self._buf = bytearray()
        self._allowed = allowed

    def feed(self, data: bytes) -> list[tuple[MsgType, memoryview]]:
        self._buf += data
        out: list[tuple[MsgType, memoryview]] = []
        view = memoryview(self._buf)
        pos, end = 0, len(self._buf)
        try:
            while end - pos >= HEADER.size:
                size, raw_type, reserved = HEADER.unpack_from(view, pos)
                msg_type = self._check_header(size, raw_type, reserved)
                if end - pos - HEADER.size < size:
                    break
                start = pos + HEADER.size
                out.append((msg_type, bytes(view[start:start + size])))
                pos = start + size
        finally:
            view.release()
        del self._buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held back."""
        return len(self._buf)

    def _check_header(self, size: int, raw_type: int, reserved: int) -> MsgType:
        if size > MAX_PAYLOAD:
            raise LinkProtocolError(f"message of {size} bytes exceeds the {MAX_PAYLOAD}-byte limit")
        try:
            msg_type = MsgType(raw_type)
        except ValueError:
            raise LinkProtocolError(f"unknown message type {raw_type}") from None
        if reserved != 0:
            raise LinkProtocolError(f"{msg_type.name}: reserved header field is {reserved}, not 0")
        if self._allowed is not None and msg_type not in self._allowed:
            raise LinkProtocolError(f"unexpected {msg_type.name} message")
        return msg_type


@dataclass(slots=True)
class RawFrame:
    """One FRAME message: raw ABI records plus configstring changes and game text."""

    frame: int
    level_time_ms: int
    flags: FrameFlags
    players: bytes = b""      # n_players records of PLAYER_RECORD_SIZE bytes
    entities: bytes = b""     # n_entities records of ENTITY_RECORD_SIZE bytes
    configstrings: list[tuple[int, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # console commands the game issued
    log: str = ""

    @property
    def n_players(self) -> int:
        return len(self.players) // PLAYER_RECORD_SIZE

    @property
    def n_entities(self) -> int:
        return len(self.entities) // ENTITY_RECORD_SIZE


def decode_frame(payload: bytes) -> RawFrame:
    if len(payload) < FRAME_HEADER.size:
        raise LinkProtocolError(f"FRAME: {len(payload)} bytes is shorter than its {FRAME_HEADER.size}-byte header")
    frame, level_time, n_players, n_entities, n_cs, flags, log_size, n_commands, reserved = FRAME_HEADER.unpack_from(payload)
    if reserved != 0 or flags & ~int(FrameFlags.CAPTURED | FrameFlags.RESET):
        raise LinkProtocolError(f"FRAME {frame}: unknown flags {flags:#x} or reserved field {reserved}")
    pos = FRAME_HEADER.size
    end_players = pos + n_players * PLAYER_RECORD_SIZE
    end_entities = end_players + n_entities * ENTITY_RECORD_SIZE
    if end_entities > len(payload):
        raise LinkProtocolError(f"FRAME {frame}: truncated records ({n_players} players, {n_entities} entities)")
    configstrings, pos = _decode_configstrings(payload, end_entities, n_cs, frame)
    commands, pos = _decode_commands(payload, pos, n_commands, frame)
    if pos + log_size != len(payload):
        raise LinkProtocolError(f"FRAME {frame}: {len(payload) - pos} bytes left for a {log_size}-byte log")
    return RawFrame(
        frame=frame,
        level_time_ms=level_time,
        flags=FrameFlags(flags),
        players=payload[FRAME_HEADER.size:end_players],
        entities=payload[end_players:end_entities],
        configstrings=configstrings,
        commands=commands,
        log=payload[pos:].decode("utf-8", "replace") if log_size else "",
    )


def _decode_configstrings(payload: bytes, pos: int, count: int, frame: int) -> tuple[list[tuple[int, str]], int]:
    out = []
    for _ in range(count):
        if pos + CONFIGSTRING_HEAD.size > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: truncated configstring record")
        index, length = CONFIGSTRING_HEAD.unpack_from(payload, pos)
        pos += CONFIGSTRING_HEAD.size
        if index >= MAX_CONFIGSTRINGS or pos + length > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: bad configstring record (index {index}, {length} bytes)")
        out.append((index, payload[pos:pos + length].decode("utf-8", "replace")))
        pos += length
    return out, pos


def _decode_commands(payload: bytes, pos: int, count: int, frame: int) -> tuple[list[str], int]:
    out = []
    for _ in range(count):
        if pos + COMMAND_HEAD.size > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: truncated command record")
        (length,) = COMMAND_HEAD.unpack_from(payload, pos)
        pos += COMMAND_HEAD.size
        if pos + length > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: command record of {length} bytes runs past the frame")
        out.append(payload[pos:pos + length].decode("utf-8", "replace"))
        pos += length
    return out, pos
