"""Limits: stream counts per match and in all, and the [limits] table."""
import pytest

from gametap.core.errors import ResourceExhausted
from gametap.core.limits import DEFAULTS, Limits, StreamCount, parse


def test_a_match_and_the_process_each_have_their_bound():
    c = StreamCount("watch", per_match=2, total=3)
    c.acquire("a")
    c.acquire("a")
    with pytest.raises(ResourceExhausted, match=r"\[limits\] watch_streams_per_match = 2"):
        c.acquire("a")
    c.acquire("b")
    with pytest.raises(ResourceExhausted, match=r"\[limits\] watch_streams = 3"):
        c.acquire("c")
    c.release("a")
    c.acquire("c")  # room again
    assert (c.open("a"), c.open(), c.open("nobody")) == (1, 3, 0)


def test_held_releases_when_the_stream_ends_even_by_an_error():
    c = StreamCount("play", per_match=1, total=10)
    with pytest.raises(RuntimeError):
        with c.held("m"):
            raise RuntimeError("the stream broke")
    with c.held("m"):
        assert c.open("m") == 1
    assert c.open() == 0


def test_the_limits_table():
    assert Limits({"matches": 3})["matches"] == 3 and Limits()["websockets"] == DEFAULTS["websockets"]
    assert parse({"matches": 5}) == {"matches": 5}
    for bad in ({"matchez": 5}, {"matches": 0}, {"matches": "5"}, {"matches": True}):
        with pytest.raises(ValueError, match="limits"):
            parse(bad)
