"""The fake game's FRAME payload: what its game process writes and its world core reads.

The link's framing, the FRAME header and its variable parts (configstrings, commands, the
log) are the real protocol's (gametap.worker.link.protocol); only the player and entity records
are the fake's own, as OpenArena's are its playerState_t and entityState_t bytes.

- players: one PLAYER record for every player in the game, every frame (a client that is
  missing has left; the fake is small enough to send them all).
- entities: one GOAL record, the point the players run for.
- configstrings: CS_MATCH (the match info, "key\\value" pairs) and CS_NAMES + client (a
  player's name), sent when they change and all of them on the RESET frame.
- commands: LEVEL_EXIT_COMMAND on the frame the game's limits end the level.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from gametap.worker.link import protocol as lp

# client, reserved (0), x, y, vx, vy, yaw, pitch (degrees), score, skill
PLAYER = struct.Struct("<HHffffffii")
GOAL = struct.Struct("<HHff")  # entity number, reserved, x, y
GOAL_ENTITY = 64  # the first entity number after the client slots, as in OpenArena
CS_MATCH = 0
CS_NAMES = 1
LEVEL_EXIT_COMMAND = "vstr nextmap"  # what OpenArena runs when its limits end the level
MODULE = {"path": "gametap-fake", "build_id": "fake-1", "gentity_size": 0, "gclient_size": 0}


@dataclass
class Frame:
    """One decoded FRAME."""
    frame: int
    level_time_ms: int
    flags: int
    players: list[tuple] = field(default_factory=list)  # PLAYER fields
    goal: tuple[float, float] | None = None
    configstrings: list[tuple[int, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def reset(self) -> bool:
        return bool(self.flags & lp.FrameFlags.RESET)


def encode(f: Frame) -> bytes:
    """The FRAME message of f."""
    players = b"".join(PLAYER.pack(*p) for p in f.players)
    goal = GOAL.pack(GOAL_ENTITY, 0, *f.goal) if f.goal else b""
    return lp.encode_frame(f.frame, f.level_time_ms, f.flags, players=players, entities=goal,
                           configstrings=f.configstrings, commands=f.commands,
                           n_players=len(f.players), n_entities=1 if f.goal else 0)


def decode(payload: bytes | memoryview) -> Frame:
    """A FRAME payload; LinkProtocolError naming what is wrong with it."""
    buf = bytes(payload)
    if len(buf) < lp.FRAME_HEADER.size:
        raise lp.LinkProtocolError(f"FRAME: {len(buf)} bytes, shorter than its header")
    (frame, level_time, n_players, n_entities, n_cs, flags, log_size, n_commands, n_usercmds, n_visibility,
     n_applied, _) = lp.FRAME_HEADER.unpack_from(buf)
    reader = _Reader(buf, lp.FRAME_HEADER.size, frame)
    f = Frame(frame, level_time, flags)
    f.players = [PLAYER.unpack(reader.take(PLAYER.size, "player records")) for _ in range(n_players)]
    goals = [GOAL.unpack(reader.take(GOAL.size, "entity records")) for _ in range(n_entities)]
    f.goal = goals[-1][2:] if goals else None
    for _ in range(n_cs):
        index, length = lp.CONFIGSTRING_HEAD.unpack(reader.take(lp.CONFIGSTRING_HEAD.size, "configstrings"))
        f.configstrings.append((index, reader.text(length, "configstrings")))
    for _ in range(n_commands):
        (length,) = lp.COMMAND_HEAD.unpack(reader.take(lp.COMMAND_HEAD.size, "commands"))
        f.commands.append(reader.text(length, "commands"))
    if n_usercmds or n_visibility or n_applied:
        raise lp.LinkProtocolError(f"FRAME {frame}: usercmd or visibility records (the fake game sends none)")
    reader.take(log_size, "log")
    if reader.pos != len(buf):
        raise lp.LinkProtocolError(f"FRAME {frame}: {len(buf) - reader.pos} bytes after its last part")
    return f


def match_info(text: str) -> dict[str, str]:
    """CS_MATCH's "key\\value\\key\\value" as a dict."""
    parts = text.split("\\")
    return dict(zip(parts[0::2], parts[1::2]))


def match_text(info: dict) -> str:
    return "\\".join(f"{k}\\{v}" for k, v in info.items())


class _Reader:
    def __init__(self, buf: bytes, pos: int, frame: int):
        self.buf, self.pos, self.frame = buf, pos, frame

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.buf):
            raise lp.LinkProtocolError(f"FRAME {self.frame}: truncated {what}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def text(self, n: int, what: str) -> str:
        return self.take(n, what).decode("utf-8", "replace")
