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

PROTOCOL_VERSION = 2
MAX_PAYLOAD = 16 * 1024 * 1024

PLAYERSTATE_SIZE = 468
ENTITYSTATE_SIZE = 208
ENTITYSHARED_SIZE = 100
PLAYER_RECORD_SIZE = 4 + PLAYERSTATE_SIZE
ENTITY_RECORD_SIZE = 4 + ENTITYSTATE_SIZE + ENTITYSHARED_SIZE

HEADER = struct.Struct("<IHH")  # size, type, reserved
# frame, level_time, players, entities, configstrings, flags, log_size, commands, usercmds, visibility, reserved x2
FRAME_HEADER = struct.Struct("<IiHHHHIHHHHI")
CONFIGSTRING_HEAD = struct.Struct("<HH")  # index, length
COMMAND_HEAD = struct.Struct("<H")  # length
USERCMD_SIZE = 24
USERCMD_RECORD = struct.Struct("<HH24s")  # client, reserved, usercmd_t
VISIBILITY_HEAD = struct.Struct("<HH")  # client, count (then count x uint16 entity numbers)
CONTROL_HEADER = struct.Struct("<IHH")  # run_until, n_actions, reserved
ACTION_RECORD = struct.Struct("<BBBbbbHHHHH")  # client, flags, weapon, forward, right, up, buttons, angles[3], reserved
WAITING = struct.Struct("<II")  # the frame the game finished, wall microseconds it ran since released
RUN_FREE = 0xFFFFFFFF
MAX_CLIENTS = 64
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
    CONTROL = 9
    WAITING = 10


_TYPES = {t.value: t for t in MsgType}


class FrameFlags:
    """FRAME header flags (plain ints: they are tested on every frame)."""
    CAPTURED = 1
    RESET = 2
    ALL = CAPTURED | RESET


class ActionFlags:
    """CONTROL action record flags."""
    OVERRIDE = 1     # drive the slot with this command (else: back to its bot AI)
    VISIBILITY = 2   # report what the slot sees


def encode_message(msg_type: MsgType, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise LinkProtocolError(f"{msg_type.name} payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(len(payload), msg_type, 0) + payload


def encode_msgpack(msg_type: MsgType, fields: dict) -> bytes:
    return encode_message(msg_type, msgpack.packb(fields, use_bin_type=True))


def decode_msgpack(msg_type: MsgType, payload: bytes | memoryview) -> dict:
    """The msgpack map (string keys) of HELLO, WELCOME, MODULE, MODULE_OK, END and ERROR."""
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
        msg_type = _TYPES.get(raw_type)
        if msg_type is None:
            raise LinkProtocolError(f"unknown message type {raw_type}")
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
    flags: int  # FrameFlags bits
    players: bytes = b""      # n_players records of PLAYER_RECORD_SIZE bytes
    entities: bytes = b""     # n_entities records of ENTITY_RECORD_SIZE bytes
    configstrings: list[tuple[int, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # console commands the game issued
    usercmds: dict[int, bytes] = field(default_factory=dict)  # client -> its bot AI's usercmd_t
    visibility: dict[int, list[int]] = field(default_factory=dict)  # client -> entity numbers it sees
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
    (frame, level_time, n_players, n_entities, n_cs, flags, log_size, n_commands, n_usercmds, n_visibility,
     reserved, reserved2) = FRAME_HEADER.unpack_from(payload)
    if reserved or reserved2 or flags & ~FrameFlags.ALL:
        raise LinkProtocolError(f"FRAME {frame}: unknown flags {flags:#x} or reserved fields {reserved}, {reserved2}")
    pos = FRAME_HEADER.size
    end_players = pos + n_players * PLAYER_RECORD_SIZE
    end_entities = end_players + n_entities * ENTITY_RECORD_SIZE
    if end_entities > len(payload):
        raise LinkProtocolError(f"FRAME {frame}: truncated records ({n_players} players, {n_entities} entities)")
    configstrings, pos = _decode_configstrings(payload, end_entities, n_cs, frame) if n_cs else ([], end_entities)
    commands, pos = _decode_commands(payload, pos, n_commands, frame) if n_commands else ([], pos)
    usercmds, pos = _decode_usercmds(payload, pos, n_usercmds, frame) if n_usercmds else ({}, pos)
    visibility, pos = _decode_visibility(payload, pos, n_visibility, frame) if n_visibility else ({}, pos)
    if pos + log_size != len(payload):
        raise LinkProtocolError(f"FRAME {frame}: {len(payload) - pos} bytes left for a {log_size}-byte log")
    return RawFrame(
        frame=frame,
        level_time_ms=level_time,
        flags=flags,
        players=payload[FRAME_HEADER.size:end_players],
        entities=payload[end_players:end_entities],
        configstrings=configstrings,
        commands=commands,
        usercmds=usercmds,
        visibility=visibility,
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


def _decode_usercmds(payload: bytes, pos: int, count: int, frame: int) -> tuple[dict[int, bytes], int]:
    end = pos + count * USERCMD_RECORD.size
    if end > len(payload):
        raise LinkProtocolError(f"FRAME {frame}: truncated usercmd records")
    out = {}
    for client, _, cmd in USERCMD_RECORD.iter_unpack(payload[pos:end]):
        if client >= MAX_CLIENTS:
            raise LinkProtocolError(f"FRAME {frame}: usercmd record for client {client}")
        out[client] = cmd
    return out, end


def _decode_visibility(payload: bytes, pos: int, count: int, frame: int) -> tuple[dict[int, list[int]], int]:
    out = {}
    for _ in range(count):
        if pos + VISIBILITY_HEAD.size > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: truncated visibility record")
        client, n = VISIBILITY_HEAD.unpack_from(payload, pos)
        pos += VISIBILITY_HEAD.size
        if client >= MAX_CLIENTS or pos + 2 * n > len(payload):
            raise LinkProtocolError(f"FRAME {frame}: bad visibility record (client {client}, {n} entities)")
        out[client] = list(struct.unpack_from(f"<{n}H", payload, pos))
        pos += 2 * n
    return out, pos


def encode_control(run_until: int, actions: list[tuple]) -> bytes:
    """A CONTROL message; each action is the ACTION_RECORD fields without the trailing reserved 0."""
    body = CONTROL_HEADER.pack(run_until, len(actions), 0) + b"".join(ACTION_RECORD.pack(*a, 0) for a in actions)
    return encode_message(MsgType.CONTROL, body)


def decode_waiting(payload: bytes) -> tuple[int, int]:
    """(frame, busy_us)."""
    if len(payload) != WAITING.size:
        raise LinkProtocolError(f"WAITING: {len(payload)} bytes, expected {WAITING.size}")
    return WAITING.unpack(payload)
