"""Link protocol: the Python side of native/include/gametap_link.h.

The C header is the source of these layouts; tests/unit/test_abi.py compiles a probe
against it and checks every struct format here. The daemon's hot path (a game's
WorldCore, in C) splits and checks the game's messages; this module encodes what the
daemon sends (WELCOME, MODULE_OK, COMMAND, CONTROL, ERROR), decodes the msgpack
messages, and encodes FRAME messages for tests.
"""
from __future__ import annotations

import enum
import struct

import msgpack

PROTOCOL_VERSION = 3
MAX_PAYLOAD = 16 * 1024 * 1024

HEADER = struct.Struct("<IHH")  # size, type, reserved
# frame, level_time, players, entities, configstrings, flags, log_size, commands, usercmds, visibility,
# applied (players' applied commands), reserved
FRAME_HEADER = struct.Struct("<IiHHHHIHHHHI")
RECORD_HEAD = struct.Struct("<HH")  # client or entity number, reserved: before each player / entity record
CONFIGSTRING_HEAD = struct.Struct("<HH")  # index, length
COMMAND_HEAD = struct.Struct("<H")  # length
USERCMD_RECORD = struct.Struct("<HH24s")  # client, reserved, usercmd_t
VISIBILITY_HEAD = struct.Struct("<HH")  # client, count (then count x uint16 entity numbers)
CONTROL_HEADER = struct.Struct("<IHH")  # run_until, n_actions, reserved
ACTION_RECORD = struct.Struct("<BBBbbbHHHHH")  # client, flags, weapon, forward, right, up, buttons, angles[3], reserved
WAITING = struct.Struct("<II")  # the frame the game finished, wall microseconds it ran since released
RUN_FREE = 0xFFFFFFFF


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


class FrameFlags:
    """FRAME header flags."""
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


def encode_control(run_until: int, records: bytes = b"") -> bytes:
    """A CONTROL message; records: ACTION_RECORD-sized action records, concatenated."""
    if len(records) % ACTION_RECORD.size:
        raise ValueError(f"{len(records)} bytes of action records is not a whole number of records")
    body = CONTROL_HEADER.pack(run_until, len(records) // ACTION_RECORD.size, 0) + records
    return encode_message(MsgType.CONTROL, body)


def release_record(client: int) -> bytes:
    """The action record that gives a slot back to its bot AI."""
    return ACTION_RECORD.pack(client, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def encode_frame(frame: int, level_time_ms: int = 0, flags: int = FrameFlags.CAPTURED, players: bytes = b"",
                 entities: bytes = b"", configstrings=(), commands=(), usercmds=None, visibility=None,
                 applied=None, log: str | bytes = "", n_players: int | None = None,
                 n_entities: int | None = None) -> bytes:
    """A FRAME message (tests and tools: the game's library writes the real ones). players and
    entities are whole records (gametap.q3.abi PLAYER_RECORD / ENTITY_RECORD); their counts
    are given when the byte lengths do not say them. usercmds (teachers) and applied
    (players' applied commands): {client: 24 usercmd_t bytes}."""
    from gametap.q3 import abi
    n_players = len(players) // abi.PLAYER_RECORD.itemsize if n_players is None else n_players
    n_entities = len(entities) // abi.ENTITY_RECORD.itemsize if n_entities is None else n_entities
    parts = [players, entities]
    for index, text in configstrings:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        parts += [CONFIGSTRING_HEAD.pack(index, len(raw)), raw]
    for text in commands:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        parts += [COMMAND_HEAD.pack(len(raw)), raw]
    for client, cmd in (usercmds or {}).items():
        parts.append(USERCMD_RECORD.pack(client, 0, cmd))
    for client, numbers in (visibility or {}).items():
        parts += [VISIBILITY_HEAD.pack(client, len(numbers)), struct.pack(f"<{len(numbers)}H", *numbers)]
    for client, cmd in (applied or {}).items():
        parts.append(USERCMD_RECORD.pack(client, 0, cmd))
    raw_log = log.encode("utf-8") if isinstance(log, str) else log
    header = FRAME_HEADER.pack(frame, level_time_ms, n_players, n_entities, len(configstrings), flags, len(raw_log),
                               len(commands), len(usercmds or {}), len(visibility or {}), len(applied or {}), 0)
    return encode_message(MsgType.FRAME, header + b"".join(parts) + raw_log)


def encode_waiting(frame: int, busy_us: int = 0) -> bytes:
    return encode_message(MsgType.WAITING, WAITING.pack(frame, busy_us))
