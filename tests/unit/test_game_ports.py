"""GamePorts: REALTIME games' UDP ports from the configured range, never one in use."""
import socket
from types import SimpleNamespace

import pytest

from gametap.core.errors import ResourceExhausted
from gametap.worker.game_ports import GamePorts


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def match(ended: bool = False):
    return SimpleNamespace(is_ended=ended)


def test_each_live_match_gets_its_own_port_then_the_range_is_exhausted():
    ports = tuple(free_udp_ports(2))
    pool = GamePorts("127.0.0.1", ports, "A-B")
    assert {pool.take(match()), pool.take(match())} == set(ports)
    with pytest.raises(ResourceExhausted, match="game_ports"):
        pool.take(match())


def test_an_ended_match_gives_its_port_back():
    ports = tuple(free_udp_ports(1))
    pool = GamePorts("127.0.0.1", ports)
    first = match()
    assert pool.take(first) == ports[0]
    first.is_ended = True
    assert pool.take(match()) == ports[0]


def test_a_port_someone_else_holds_is_skipped():
    busy, free = free_udp_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", busy))
        assert GamePorts("127.0.0.1", (busy, free)).take(match()) == free


def test_without_a_range_any_free_port():
    port = GamePorts("127.0.0.1").take(match())
    assert 0 < port < 65536
