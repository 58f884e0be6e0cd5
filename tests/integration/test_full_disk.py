"""A full disk, for real: the daemon's state directory on a 4 MB tmpfs that the recording fills.
The recording stops with a logged reason, the match goes on, and StopMatch works (issue: the
match froze as RUNNING and StopMatch answered UNKNOWN, ENOSPC)."""
from __future__ import annotations

import subprocess

import pytest

from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep

pytestmark = pytest.mark.game


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_recording_not_the_match(tiny_disk):
    daemon = start_daemon(tiny_disk / "state", "--no-default-match")
    try:
        with daemon.client() as c:
            match = c.create_match(lockstep(max_frames=10**7))  # four bots, free-running: ~0.5 MB/s of recording
            stopped = wait_until(lambda: (m := c.get_match(match.id)).recording_stopped and m, 120,
                                 "the recording to hit the full disk")
            assert "No space left" in stopped.recording_stopped or "ENOSPC" in stopped.recording_stopped
            assert stopped.status == mpb.RUNNING
            wait_until(lambda: c.get_match(match.id).frame > stopped.frame + 1000, 60, "the game to go on")
            assert c.stop_match(match.id).status == mpb.STOPPED
            assert c.get_match(match.id).status == mpb.STOPPED
    finally:
        daemon.stop()
    assert any("recording" in line and "stopped" in line for line in daemon.output), daemon.output[-20:]
