"""The daemon <-> worker control channel on good and bad bytes."""
import random

import msgpack
import pytest

from gametap.core import errors
from gametap.worker import control


def test_messages_split_across_chunks():
    stream = b"".join(control.encode({"id": i, "op": "get", "match_id": "abc"}) for i in range(5))
    d, got = control.Decoder(), []
    for i in range(0, len(stream), 7):
        got += d.feed(stream[i:i + 7])
    assert [m["id"] for m in got] == list(range(5))


def test_truncated_message_waits_for_the_rest():
    msg = control.encode({"event": "ready"})
    d = control.Decoder()
    assert d.feed(msg[:-1]) == [] and d.feed(msg[-1:]) == [{"event": "ready"}]


@pytest.mark.parametrize("data, needle", [
    (control.HEAD.pack(control.MAX_MESSAGE + 1), "exceeds"),
    (control.HEAD.pack(1) + b"\xc1", "not msgpack"),
    (control.HEAD.pack(3) + msgpack.packb([1, 2]), "not a map"),
    (control.HEAD.pack(3) + msgpack.packb({1: 2}), "not msgpack|not a map"),
])
def test_bad_messages_are_refused(data, needle):
    with pytest.raises(control.ControlError, match=needle):
        control.Decoder().feed(data)


def test_random_bytes_never_crash_the_decoder():
    rng = random.Random(2)
    for _ in range(2000):
        try:
            control.Decoder().feed(control.HEAD.pack(rng.randint(0, 64)) + rng.randbytes(rng.randint(0, 64)))
        except control.ControlError:
            pass


@pytest.mark.parametrize("error", [
    errors.NotFound("no match with id 'x'"), errors.InvalidArgument("map", "unknown map 'y'"),
    errors.ResourceExhausted("the match is full"), errors.FailedPrecondition("it ended"),
])
def test_errors_cross_the_channel_as_the_same_class_and_text(error):
    reply = msgpack.unpackb(control.encode(control.error_reply(7, error))[control.HEAD.size:])
    with pytest.raises(type(error)) as raised:
        control.raise_error(reply["error"])
    assert str(raised.value) == str(error)
    if isinstance(error, errors.InvalidArgument):
        assert raised.value.field == "map"


def test_a_bug_on_the_worker_side_comes_back_as_an_internal_error():
    reply = control.error_reply(1, KeyError("boom"))
    with pytest.raises(errors.GametapError, match="internal error"):
        control.raise_error(reply["error"])
