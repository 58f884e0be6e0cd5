"""The daemon's own lifecycle: the default match, RunCommand, REALTIME clients, and
that its end (SIGTERM, or even SIGKILL) takes its games with it."""
import signal
import socket
from pathlib import Path

import pytest

from gametap.testing import pid_alive, start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep

pytestmark = pytest.mark.game


def udp_getstatus(port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"\xff\xff\xff\xffgetstatus", ("127.0.0.1", port))
        return s.recvfrom(65536)[0]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_default_match_serves_realtime_and_stopping_leaves_no_game(tmp_path, stop_signal):
    d = start_daemon(Path("state"), cwd=tmp_path)  # a relative state folder, as `make run` gives
    try:
        text = "\n".join(d.output)
        assert "OpenArena clients connect to 127.0.0.1:" in text
        with d.client() as c:
            (match,) = c.list_matches()
            assert match.config.clock == mpb.REALTIME and match.config.map == "oa_dm1" and len(match.config.bots) == 4
            running = wait_until(lambda: (m := c.get_match(match.id)).status == mpb.RUNNING and m.frame > 40 and m,
                                 60, "the default match to run")
            assert 10 < running.frames_per_second < 30  # real time at sv_fps 20 (generous bounds)
            status = udp_getstatus(running.game_port)  # what an OpenArena client asks first
            assert status.startswith(b"\xff\xff\xff\xffstatusResponse") and b"oa_dm1" in status
            assert status.count(b'"') >= 8  # one quoted name per bot
            pid, worker = running.pid, running.placement.worker_pid
            assert worker and pid_alive(worker)
    finally:
        assert d.stop(stop_signal) == 0
    assert not pid_alive(pid) and not pid_alive(worker)


def test_daemon_killed_outright_takes_its_games_with_it(tmp_path):
    d = start_daemon(tmp_path / "state", "--no-default-match")
    with d.client() as c:
        match = c.create_match(lockstep(bots=("Sarge",)))
        pid = wait_until(lambda: c.get_match(match.id).pid, 30, "the game's pid")
        worker = c.get_match(match.id).placement.worker_pid
    d.stop(signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid) and not pid_alive(worker), 15, "the worker and its game to end after the daemon died")


def test_run_command_returns_output_and_takes_effect(client):
    match = client.create_match(lockstep(bots=("Sarge", "Grism")))
    try:
        wait_until(lambda: client.get_match(match.id).frame > 50, 60, "frames")
        assert "gametap-rocks" in client.run_command(match.id, "echo gametap-rocks")
        client.run_command(match.id, "fraglimit 900")  # high: this free-running game must not reach it
        wait_until(lambda: client.get_state(match.id).match.frag_limit == 900, 30, "fraglimit 900 in the state")
        client.run_command(match.id, "addbot Major 2")
        wait_until(lambda: len(client.get_state(match.id).players) == 3, 30, "a third player")
    finally:
        client.stop_match(match.id)
    assert client.get_match(match.id).status == mpb.STOPPED
