"""Hand-assembled protobuf wire format, for messages built from pre-serialized parts.

The daemon keeps every player and entity as serialized bytes and assembles
updates by concatenation: a length-delimited field is tag + varint length +
bytes, and repeated fields may be written one element at a time. Parsers read
the result exactly as if the whole message had been serialized at once.
"""
from __future__ import annotations

_UINT64 = (1 << 64) - 1
_SMALL = [bytes((i,)) for i in range(128)]


def varint(value: int) -> bytes:
    """Base-128 varint; negative int32/int64 values take ten bytes, as in protobuf."""
    if 0 <= value < 128:
        return _SMALL[value]
    value &= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_field(field: int, value: int) -> bytes:
    """A varint field (int32, int64, uint*, bool, enum); zero is omitted, as proto3 does."""
    return varint(field << 3) + varint(value) if value else b""


_TAGS = [varint(f << 3 | 2) for f in range(32)]


def bytes_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field: an embedded message, string or packed repeated scalars."""
    n = len(payload)
    return _TAGS[field] + (_SMALL[n] if n < 128 else varint(n)) + payload


def packed_varints(field: int, values) -> bytes:
    return bytes_field(field, b"".join(varint(v) for v in values)) if values else b""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at buf[pos:] and the position after it; ValueError if it is cut short."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
