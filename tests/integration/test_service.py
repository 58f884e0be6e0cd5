"""Running as a systemd service: the notify protocol (READY, WATCHDOG, STATUS, STOPPING) heard
on a fake NOTIFY_SOCKET, the unit file verified by systemd itself, and one daemon per port."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from gametap.testing import free_port, start_daemon

pytestmark = pytest.mark.game

ROOT = Path(__file__).resolve().parents[2]


def received(sock: socket.socket, until: str, timeout: float) -> list[str]:
    """Every notify message (one string of its fields) up to and including one that has `until`."""
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in out[-1].split("\n"):
            return out
    raise AssertionError(f"no {until} within {timeout:.0f} s; heard {out}")


def test_the_daemon_speaks_the_notify_protocol_in_order(tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        daemon = start_daemon(tmp_path / "state", "--no-default-match",
                              env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
        try:
            until_ready = received(sock, "READY=1", 30)
            assert "WATCHDOG=1" not in "\n".join(until_ready)  # ready first: systemd starts the watchdog then
            assert "STATUS=0 matches running, 0 agents' players" in until_ready[-1].split("\n")
            pings = received(sock, "WATCHDOG=1", 5) + received(sock, "WATCHDOG=1", 5)
            assert sum(m.split("\n").count("WATCHDOG=1") for m in pings) >= 2  # every 0.2 s: half the interval
        finally:
            daemon.stop()
        assert "STOPPING=1" in received(sock, "STOPPING=1", 5)[-1].split("\n")


def test_a_second_daemon_on_a_grpc_port_in_use_refuses_to_start(tmp_path):
    port = free_port()
    first = start_daemon(tmp_path / "a", "--no-default-match", "--grpc", f"127.0.0.1:{port}")
    try:
        with pytest.raises(RuntimeError, match="address already in use"):
            start_daemon(tmp_path / "b", "--no-default-match", "--grpc", f"127.0.0.1:{port}")
    finally:
        first.stop()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_the_unit_file_verifies(tmp_path):
    unit = tmp_path / "gametap.service"
    unit.write_text((ROOT / "deploy" / "gametap.service").read_text().replace("@ROOT@", str(ROOT)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                              text=True, timeout=60)
    exposure = float(security.stdout.split("Overall exposure level for gametap.service:")[1].split()[0])
    assert exposure <= 1.5, security.stdout[-2000:]  # as the systemd test asserts of the installed unit


def test_the_banner_comes_at_once_when_stdout_is_not_a_terminal(tmp_path, monkeypatch):
    """Under systemd stdout is a pipe to the journal: block-buffered, the banner came only at stop."""
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # this machine's environment sets it; systemd does not
    daemon = start_daemon(tmp_path / "state", "--no-default-match")  # waits for the banner's last line
    try:
        assert any(line.startswith("gametap ") and "serving" in line for line in daemon.output), daemon.output
    finally:
        daemon.stop()


def status_lines(messages: list[str]) -> list[str]:
    return [field.removeprefix("STATUS=") for m in messages for field in m.split("\n") if field.startswith("STATUS=")]


def statuses_until(sock: socket.socket, prefix: str, timeout: float) -> list[str]:
    """Every STATUS heard up to and including one that starts with prefix."""
    heard, deadline = [], time.monotonic() + timeout
    while not (heard and heard[-1].startswith(prefix)):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            heard += status_lines([sock.recv(4096).decode()])
        except TimeoutError:
            raise AssertionError(f"no STATUS={prefix}... within {timeout:.0f} s; heard {heard}") from None
    return heard


def test_status_names_the_boot_match_at_ready_and_as_it_starts_running(tmp_path):
    """STATUS said "0 matches running" until the next watchdog ping (15 s with WatchdogSec=30)."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        # pings every 300 s: a STATUS heard within the test comes from a change, not from a ping
        daemon = start_daemon(tmp_path / "state", env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "600000000"})
        try:
            boot = daemon.client().list_matches()[0].id
            at_ready = status_lines(received(sock, "READY=1", 30))[-1]
            running = statuses_until(sock, "1 match running", 60)[-1]  # the bound only catches a hang
        finally:
            daemon.stop()
    assert boot in at_ready, at_ready
    assert running == f"1 match running ({boot}), 0 agents' players"
