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


def field_number(message_type, name: str) -> int:
    """A field's number, from the generated descriptor (never a literal)."""
    return message_type.DESCRIPTOR.fields_by_name[name].number


def skip_field(buf: bytes, pos: int, wire_type: int) -> tuple[int, int, int]:
    """Reads one field's value starting at pos: (start, end, next position) of its bytes
    (for length-delimited fields, the payload). ValueError if malformed."""
    if wire_type == 0:
        start = pos
        _, pos = read_varint(buf, pos)
        return start, pos, pos
    if wire_type == 2:
        n, start = read_varint(buf, pos)
        if start + n > len(buf):
            raise ValueError("length-delimited field runs past the end")
        return start, start + n, start + n
    size = {1: 8, 5: 4}.get(wire_type)
    if size is None or pos + size > len(buf):
        raise ValueError(f"wire type {wire_type} (groups are not used) or a truncated fixed field")
    return pos, pos + size, pos + size


def split_oneof(buf: bytes, members: frozenset[int]) -> tuple[int, bytes]:
    """(field number, payload) of the oneof member a message sets, read off the wire: the
    last member wins and repeated occurrences of one member merge, as protobuf parsing does.
    (0, b"") if none is set; ValueError if the bytes are not protobuf."""
    kind, body, pos = 0, b"", 0
    if len(buf) > 1 and buf[0] >> 3 in members and buf[0] & 7 == 2:  # the usual: one member, nothing else
        n, start = read_varint(buf, 1)
        if start + n == len(buf):
            return buf[0] >> 3, buf[start:]
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        start, end, pos = skip_field(buf, pos, wire_type)
        if field in members and wire_type == 2:
            body = (body if field == kind else b"") + buf[start:end]
            kind = field
    return kind, body


def split_repeated(buf: bytes, field: int) -> list[bytes]:
    """The payloads of a repeated length-delimited field, in order (others skipped)."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        start, end, pos = skip_field(buf, pos, key & 7)
        if key >> 3 == field and key & 7 == 2:
            out.append(buf[start:end])
    return out


def repeated_field(field: int, payloads) -> bytes:
    """Length-delimited payloads as one repeated field (each payload copied once, by the join)."""
    tag, small, parts = _TAGS[field], _SMALL, []
    append = parts.append
    for payload in payloads:
        n = len(payload)
        append(tag)
        append(small[n] if n < 128 else varint(n))
        append(payload)
    return b"".join(parts)
