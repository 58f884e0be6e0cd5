"""The sd_notify client: addresses, the watchdog's interval, silence without systemd, STATUS."""
import asyncio
import os
import socket

from gametap.daemon.daemon import status_text
from gametap.daemon.systemd import Notifier
from gametap.v1 import match_pb2 as mpb


def test_without_notify_socket_nothing_is_sent():
    n = Notifier({})
    assert not n.enabled and n.watchdog_s is None
    n.ready("x")  # no socket, no error
    n.stopping()


def test_an_abstract_socket_name_and_the_watchdog_interval():
    name = f"gametap-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        n = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
        assert n.watchdog_s == 30.0
        n.ready("3 matches running")
        assert sock.recv(100) == b"READY=1\nSTATUS=3 matches running"
        n.close()


def test_a_watchdog_meant_for_another_process_is_not_ours():
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_s is None


def test_a_change_updates_status_without_waiting_for_the_next_ping():
    name = f"gametap-test-change-{os.getpid()}"

    async def scenario(sock):
        n = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "600000000"})  # pings every 300 s
        texts = iter(["0 matches running", "1 match running (m1)"])
        changed = asyncio.Event()
        alive = asyncio.ensure_future(n.keep_alive(lambda: asyncio.sleep(0, next(texts)), changed))
        loop = asyncio.get_running_loop()
        first = await loop.sock_recv(sock, 200), await loop.sock_recv(sock, 200)
        changed.set()
        second = await asyncio.wait_for(loop.sock_recv(sock, 200), 30)  # the bound only catches a hang
        alive.cancel()
        n.close()
        return first, second

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        first, second = asyncio.run(scenario(sock))
    assert first == (b"WATCHDOG=1", b"STATUS=0 matches running")
    assert second == b"STATUS=1 match running (m1)"


def test_the_status_line_names_live_matches():
    def match(i, status, agents=0):
        return mpb.Match(id=f"m{i}", status=status, agent_clients=list(range(agents)))

    assert status_text([]) == "0 matches running, 0 agents' players"
    assert status_text([match(1, mpb.STARTING)]) == "0 matches running, 1 starting (m1), 0 agents' players"
    assert status_text([match(1, mpb.RUNNING, 2)]) == "1 match running (m1), 2 agents' players"
    many = [match(i, mpb.RUNNING, 1) for i in range(5)] + [match(9, mpb.STARTING)]
    assert status_text(many) == "5 matches running (m0 m1 m2 ...), 1 starting (m9), 5 agents' players"
