"""The link decoder on bad input: truncated, oversized, wrong version, random bytes."""
import os
import random
import struct

import msgpack
import pytest

from gametap.link import protocol as lp


def frame_payload(frame=7, level_time=350, players=b"", entities=b"", configstrings=(), commands=(), log=b"", flags=1):
    cs = b"".join(struct.pack("<HH", i, len(t)) + t for i, t in configstrings)
    cmds = b"".join(struct.pack("<H", len(c)) + c for c in commands)
    n_players = len(players) // lp.PLAYER_RECORD_SIZE
    n_entities = len(entities) // lp.ENTITY_RECORD_SIZE
    head = lp.FRAME_HEADER.pack(frame, level_time, n_players, n_entities, len(configstrings), flags, len(log),
                                len(commands), 0, 0, 0, 0)
    return head + players + entities + cs + cmds + log


def test_reader_splits_messages_across_arbitrary_chunks():
    stream = b"".join(lp.encode_message(lp.MsgType.FRAME, frame_payload(frame=i)) for i in range(1, 6))
    reader = lp.MessageReader()
    got = []
    pos = 0
    rng = random.Random(1)
    while pos < len(stream):
        step = rng.randint(1, 40)
        got += reader.feed(stream[pos:pos + step])
        pos += step
    assert [lp.decode_frame(p).frame for _, p in got] == [1, 2, 3, 4, 5]
    assert reader.pending == 0


def test_truncated_message_is_held_back_not_decoded():
    msg = lp.encode_message(lp.MsgType.FRAME, frame_payload())
    reader = lp.MessageReader()
    assert reader.feed(msg[:-1]) == []
    assert reader.pending == len(msg) - 1
    assert len(reader.feed(msg[-1:])) == 1


def test_oversized_message_is_refused():
    header = lp.HEADER.pack(lp.MAX_PAYLOAD + 1, lp.MsgType.FRAME, 0)
    with pytest.raises(lp.LinkProtocolError, match="exceeds"):
        lp.MessageReader().feed(header)


def test_unknown_type_and_reserved_field_are_refused():
    with pytest.raises(lp.LinkProtocolError, match="unknown message type 99"):
        lp.MessageReader().feed(lp.HEADER.pack(0, 99, 0))
    with pytest.raises(lp.LinkProtocolError, match="reserved"):
        lp.MessageReader().feed(lp.HEADER.pack(0, lp.MsgType.FRAME, 5))


def test_message_type_not_allowed_here():
    reader = lp.MessageReader(allowed=frozenset({lp.MsgType.HELLO}))
    with pytest.raises(lp.LinkProtocolError, match="unexpected FRAME"):
        reader.feed(lp.encode_message(lp.MsgType.FRAME, b""))


def test_encode_refuses_oversized_payload():
    with pytest.raises(lp.LinkProtocolError):
        lp.encode_message(lp.MsgType.COMMAND, b"x" * (lp.MAX_PAYLOAD + 1))


def test_frame_round_trip():
    players = bytes(range(256)) * 2
    players = (players + bytes(lp.PLAYER_RECORD_SIZE))[: lp.PLAYER_RECORD_SIZE]
    entities = bytes(lp.ENTITY_RECORD_SIZE * 2)
    f = lp.decode_frame(frame_payload(frame=9, level_time=-5, players=players, entities=entities,
                                      configstrings=[(5, b"123"), (544, b"")], commands=[b"vstr nextmap\n"],
                                      log=b"Kill: 1 2 3: x\n", flags=3))
    assert (f.frame, f.level_time_ms, f.n_players, f.n_entities) == (9, -5, 1, 2)
    assert f.flags == lp.FrameFlags.CAPTURED | lp.FrameFlags.RESET
    assert f.configstrings == [(5, "123"), (544, "")]
    assert f.commands == ["vstr nextmap\n"]
    assert f.log == "Kill: 1 2 3: x\n"
    assert f.players == players


@pytest.mark.parametrize("cut", [0, 10, lp.FRAME_HEADER.size - 1])
def test_frame_shorter_than_header(cut):
    with pytest.raises(lp.LinkProtocolError, match="shorter than"):
        lp.decode_frame(frame_payload()[:cut])


def test_frame_with_truncated_records():
    payload = frame_payload(players=bytes(lp.PLAYER_RECORD_SIZE))
    with pytest.raises(lp.LinkProtocolError, match="truncated records"):
        lp.decode_frame(payload[:-1])


def test_frame_with_bad_configstrings():
    good = frame_payload(configstrings=[(3, b"title")])
    with pytest.raises(lp.LinkProtocolError, match="truncated configstring|bad configstring|left for"):
        lp.decode_frame(good[:-2])
    bad_index = frame_payload(configstrings=[(1024, b"x")])
    with pytest.raises(lp.LinkProtocolError, match="bad configstring"):
        lp.decode_frame(bad_index)


def test_frame_with_bad_command_records():
    payload = frame_payload(commands=[b"map_restart 0"])
    with pytest.raises(lp.LinkProtocolError, match="command record"):
        lp.decode_frame(payload[:-3])
    head = lp.FRAME_HEADER.pack(1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0)
    with pytest.raises(lp.LinkProtocolError, match="truncated command"):
        lp.decode_frame(head + struct.pack("<H", 1) + b"x")


def test_frame_log_size_must_match():
    payload = frame_payload(log=b"hello")
    with pytest.raises(lp.LinkProtocolError, match="log"):
        lp.decode_frame(payload + b"x")


def test_frame_unknown_flags():
    with pytest.raises(lp.LinkProtocolError, match="flags"):
        lp.decode_frame(frame_payload(flags=0x80))


def test_control_messages_must_be_string_keyed_maps():
    assert lp.decode_msgpack(lp.MsgType.HELLO, msgpack.packb({"protocol": 1})) == {"protocol": 1}
    for bad in (msgpack.packb([1, 2]), msgpack.packb({1: 2}), b"\xc1", b"", msgpack.packb({"a": 1})[:-1]):
        with pytest.raises(lp.LinkProtocolError, match="HELLO"):
            lp.decode_msgpack(lp.MsgType.HELLO, bad)


def test_random_bytes_never_crash_the_decoders():
    rng = random.Random(7)
    for _ in range(3000):
        data = os.urandom(rng.randint(0, 200)) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 200))
        try:
            for msg_type, payload in lp.MessageReader().feed(data):
                if msg_type == lp.MsgType.FRAME:
                    lp.decode_frame(payload)
                else:
                    lp.decode_msgpack(msg_type, payload)
        except lp.LinkProtocolError:
            pass
        try:
            lp.decode_frame(data)
        except lp.LinkProtocolError:
            pass
