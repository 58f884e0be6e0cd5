"""The link decoder (the hot path's World.feed) on good and bad input: messages split
across chunks, truncated, oversized, unknown types, malformed FRAMEs, random bytes."""
import os
import random
import struct

import msgpack
import pytest

from gametap.q3 import _hotpath, abi
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp


def world():
    w = _hotpath.World(100, False)
    w.accept_frames()
    return w


def frame_payload(frame=7, level_time=350, players=b"", entities=b"", configstrings=(), commands=(), log=b"", flags=1):
    return lp.encode_frame(frame, level_time, flags, players=players, entities=entities,
                           configstrings=configstrings, commands=commands, log=log)[lp.HEADER.size:]


def frame_message(**kw):
    return lp.encode_message(lp.MsgType.FRAME, frame_payload(**kw))


def frames_of(items):
    return [opb.WorldUpdate.FromString(d).delta.frame for item in items if item[0] == 0 for d in item[1]]


def refusal(data, w=None):
    """The reason feed() gives for bytes that break the protocol."""
    items = (w or world()).feed(data)
    assert items and items[-1][0] == _hotpath.World.BROKEN, items
    return items[-1][1]


def test_messages_split_across_arbitrary_chunks():
    stream = b"".join(frame_message(frame=i) for i in range(1, 6))
    w, got, pos = world(), [], 0
    rng = random.Random(1)
    while pos < len(stream):
        step = rng.randint(1, 40)
        got += frames_of(w.feed(stream[pos:pos + step]))
        pos += step
    assert got == [1, 2, 3, 4, 5]
    assert w.pending == 0


def test_truncated_message_is_held_back_not_decoded():
    msg = frame_message()
    w = world()
    assert w.feed(msg[:-1]) == [] and w.pending == len(msg) - 1
    assert frames_of(w.feed(msg[-1:])) == [7]


def test_oversized_message_is_refused():
    assert "exceeds" in refusal(lp.HEADER.pack(lp.MAX_PAYLOAD + 1, lp.MsgType.FRAME, 0))


def test_unknown_type_and_reserved_field_are_refused():
    assert refusal(lp.HEADER.pack(0, 99, 0)) == "unknown message type 99"
    assert "reserved" in refusal(lp.HEADER.pack(0, lp.MsgType.FRAME, 5))


def test_a_broken_link_stays_broken():
    w = world()
    first = refusal(lp.HEADER.pack(0, 99, 0), w)
    assert refusal(frame_message(), w) == first


def test_control_messages_stop_the_feed_until_python_answers():
    hello = lp.encode_msgpack(lp.MsgType.HELLO, {"protocol": 2})
    w = _hotpath.World(100, False)  # before the handshake FRAMEs are handed over too
    items = w.feed(hello + frame_message(frame=1))
    assert items == [(lp.MsgType.HELLO, hello[lp.HEADER.size:])]
    w.accept_frames()
    assert frames_of(w.feed(b"")) == [1]


def test_frame_round_trip_of_every_part():
    player = bytearray(abi.PLAYER_RECORD.itemsize)
    ents = bytearray(abi.ENTITY_RECORD.itemsize * 2)
    struct.pack_into("<H", ents, 0, 64)
    struct.pack_into("<H", ents, abi.ENTITY_RECORD.itemsize, 65)
    items = world().feed(frame_message(frame=9, level_time=-5, players=bytes(player), entities=bytes(ents),
                                       configstrings=[(5, b"123"), (544, b"")], commands=[b"map_restart 0\n"],
                                       log=b"Kill: 1 2 3: x\n", flags=3))
    (kind, deltas, keyframes, records, reset), = items
    assert kind == 0 and reset and len(deltas) == 1 and keyframes  # RESET: a keyframe too
    d = opb.WorldUpdate.FromString(deltas[0]).delta
    assert (d.frame, d.level_time_ms) == (9, -5)


@pytest.mark.parametrize("cut", [0, 10, lp.FRAME_HEADER.size - 1])
def test_frame_shorter_than_header(cut):
    payload = frame_payload()[:cut]
    assert "shorter than" in refusal(lp.encode_message(lp.MsgType.FRAME, payload))


def test_frame_with_truncated_records():
    payload = frame_payload(players=bytes(abi.PLAYER_RECORD.itemsize))
    assert "truncated records" in refusal(lp.encode_message(lp.MsgType.FRAME, payload[:-1]))


def test_records_of_clients_or_entities_that_cannot_exist():
    player = bytearray(abi.PLAYER_RECORD.itemsize)
    struct.pack_into("<H", player, 0, 64)
    assert "player record for client 64" in refusal(frame_message(players=bytes(player)))
    entity = bytearray(abi.ENTITY_RECORD.itemsize)
    struct.pack_into("<H", entity, 0, 1024)
    assert "entity record for number 1024" in refusal(frame_message(entities=bytes(entity)))


def test_frame_with_bad_configstrings():
    good = frame_payload(configstrings=[(3, b"title")])
    assert "configstring" in refusal(lp.encode_message(lp.MsgType.FRAME, good[:-2]))
    assert "bad configstring" in refusal(frame_message(configstrings=[(1024, b"x")]))


def test_frame_with_bad_command_records():
    payload = frame_payload(commands=[b"map_restart 0"])
    assert "command record" in refusal(lp.encode_message(lp.MsgType.FRAME, payload[:-3]))
    head = lp.FRAME_HEADER.pack(1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0)
    assert "truncated command" in refusal(lp.encode_message(lp.MsgType.FRAME, head + struct.pack("<H", 1) + b"x"))


def test_frame_with_bad_usercmd_and_visibility_records():
    head = lp.FRAME_HEADER.pack(1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0)
    assert "usercmd record for client 70" in refusal(
        lp.encode_message(lp.MsgType.FRAME, head + lp.USERCMD_RECORD.pack(70, 0, bytes(24))))
    assert "truncated usercmd" in refusal(lp.encode_message(lp.MsgType.FRAME, head + bytes(10)))
    head = lp.FRAME_HEADER.pack(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)  # an applied command
    assert "applied-command record for client 64" in refusal(
        lp.encode_message(lp.MsgType.FRAME, head + lp.USERCMD_RECORD.pack(64, 0, bytes(24))))
    assert "truncated applied-command" in refusal(lp.encode_message(lp.MsgType.FRAME, head + bytes(27)))
    head = lp.FRAME_HEADER.pack(1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
    assert "visibility" in refusal(lp.encode_message(lp.MsgType.FRAME, head + lp.VISIBILITY_HEAD.pack(1, 5) + bytes(4)))
    assert "names entity 2000" in refusal(
        lp.encode_message(lp.MsgType.FRAME, head + lp.VISIBILITY_HEAD.pack(1, 1) + struct.pack("<H", 2000)))


def test_frame_log_size_must_match():
    payload = frame_payload(log=b"hello")
    assert "log" in refusal(lp.encode_message(lp.MsgType.FRAME, payload + b"x"))


def test_frame_unknown_flags():
    assert "flags" in refusal(frame_message(flags=0x80))


def test_waiting_must_have_its_size():
    assert "WAITING" in refusal(lp.encode_message(lp.MsgType.WAITING, b"\x01"))
    assert world().feed(lp.encode_waiting(5, 77)) == [(lp.MsgType.WAITING, 5, 77)]


def test_game_text_that_is_not_utf8_is_cleaned():
    w = world()
    info = b"n\\Bad\xff\xfeName\\skill\\3"
    items = w.feed(frame_message(configstrings=[(abi.CS_PLAYERS, info)], players=bytes(abi.PLAYER_RECORD.itemsize),
                                 log=b"say: x\xc3: hi \xe2\x82\n"))
    d = opb.WorldUpdate.FromString(items[0][1][0]).delta  # parses: every string is valid UTF-8
    assert d.players[0].name == "Bad\ufffd\ufffdName"
    assert d.events[-1].chat.text.startswith("hi ")


def test_control_messages_must_be_string_keyed_maps():
    assert lp.decode_msgpack(lp.MsgType.HELLO, msgpack.packb({"protocol": 1})) == {"protocol": 1}
    for bad in (msgpack.packb([1, 2]), msgpack.packb({1: 2}), b"\xc1", b"", msgpack.packb({"a": 1})[:-1]):
        with pytest.raises(lp.LinkProtocolError, match="HELLO"):
            lp.decode_msgpack(lp.MsgType.HELLO, bad)


def test_random_bytes_never_crash_the_decoder():
    rng = random.Random(7)
    for _ in range(3000):
        data = os.urandom(rng.randint(0, 200)) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 200))
        w = world()
        w.feed(data)
        w.feed(lp.encode_message(lp.MsgType.FRAME, data))  # a FRAME header around random bytes


def test_random_frames_with_plausible_headers_never_crash_the_decoder():
    rng = random.Random(11)
    for _ in range(2000):
        counts = [rng.randint(0, 3) for _ in range(7)]
        head = lp.FRAME_HEADER.pack(rng.randint(0, 2**32 - 1), rng.randint(-2**31, 2**31 - 1), *counts[:3],
                                    rng.choice((1, 3)), rng.randint(0, 50), *counts[3:6], 0, 0)
        body = rng.randbytes(rng.randint(0, 3000))
        w = world()
        w.feed(lp.encode_message(lp.MsgType.FRAME, head + body))
