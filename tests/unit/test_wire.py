"""Hand-assembled wire format parses exactly as protobuf's own serialization."""
from gametap import wire
from gametap.q3.v1 import world_pb2 as wpb


def test_varint_matches_protobuf_for_int32_and_uint64():
    for value in (0, 1, 127, 128, 300, 2**31 - 1, -1, -(2**31)):
        assert wire.varint_field(2, value) == wpb.WorldDelta(level_time_ms=value).SerializeToString()
    for value in (1, 2**40, 2**64 - 1):
        assert wire.varint_field(1, value) == wpb.WorldDelta(frame=value).SerializeToString()


def test_concatenated_fields_parse_as_one_message():
    p1 = wpb.Player(client=1, name="a").SerializeToString()
    p2 = wpb.Player(client=2, health=5).SerializeToString()
    data = wire.varint_field(1, 7) + wire.bytes_field(4, p1) + wire.bytes_field(4, p2) + wire.packed_varints(7, [3, 900])
    d = wpb.WorldDelta.FromString(data)
    assert d.frame == 7 and [p.client for p in d.players] == [1, 2] and list(d.removed_entities) == [3, 900]
    assert wire.packed_varints(7, []) == b""
