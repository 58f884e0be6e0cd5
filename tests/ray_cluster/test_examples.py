"""examples/ray_many_matches.py on the real 2-node local cluster."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gametap.recordings.recording import read_recording

pytestmark = [pytest.mark.ray, pytest.mark.game]
EXAMPLES = Path(__file__).parents[2] / "examples"


def test_many_matches_as_ray_tasks_gather_their_recordings(cluster, tmp_path):
    out = tmp_path / "recordings"
    run = subprocess.run([sys.executable, str(EXAMPLES / "ray_many_matches.py"), "--address", cluster.address, "--matches", "3",
                          "--steps", "40", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    files = sorted(out.glob("*.gtrec"))
    assert len(files) == 3 and "3 recordings from" in run.stdout
    for f in files:
        recording = read_recording(f)
        assert len(recording.updates) > 40  # 40 steps of 4 frames each, and the start-up


def test_rllib_ppo_trains_on_the_cluster_and_saves_a_checkpoint(cluster, tmp_path):
    pytest.importorskip("ray.rllib")
    run = subprocess.run([sys.executable, str(EXAMPLES / "rllib_ppo.py"), "--address", cluster.address,
                          "--iterations", "2", "--batch", "100", "--episode-steps", "30",
                          "--checkpoint", str(tmp_path / "ckpt")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "iteration 2/2: " in run.stdout and "checkpoint: " in run.stdout
    assert any((tmp_path / "ckpt").iterdir())
