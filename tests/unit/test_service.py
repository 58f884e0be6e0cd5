"""The sd_notify client: addresses, the watchdog's interval, silence without systemd."""
import os
import socket

from gametap.service import Notifier


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
