"""start_local_cluster's retry and diagnostics, with Ray's Cluster replaced (the real one is every other test here)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from gametap.ray import local_cluster

pytestmark = pytest.mark.ray


class FlakyCluster:
    """Fails the first add_node of the first `failures` clusters made, like a raylet that never registers."""
    made: list[FlakyCluster] = []
    failures = 1

    def __init__(self, initialize_head: bool):
        assert initialize_head is False
        self.nodes, self.shut_down = [], False
        self.fails = len(FlakyCluster.made) < FlakyCluster.failures
        FlakyCluster.made.append(self)

    def add_node(self, **args):
        if self.fails:
            raise Exception("The current node timed out during startup.")
        self.nodes.append(args)

    def wait_for_nodes(self):
        pass

    def shutdown(self):
        self.shut_down = True

    address = "127.0.0.1:1"


@pytest.fixture
def flaky(monkeypatch, tmp_path):
    session = tmp_path / "session_x"
    (session / "logs").mkdir(parents=True)
    (session / "logs" / "raylet.out").write_text("starting\nagent_manager.cc: Agent process with name dashboard_agent exited\n")
    (tmp_path / "session_latest").symlink_to(session)
    monkeypatch.setattr(local_cluster, "SESSION_LATEST", tmp_path / "session_latest")
    monkeypatch.setattr(local_cluster, "Cluster", FlakyCluster)
    monkeypatch.setattr(local_cluster.ray, "init", lambda **_: None)
    FlakyCluster.made, FlakyCluster.failures = [], 1
    return FlakyCluster


def test_a_failed_start_is_removed_and_tried_again_with_the_logs_shown(flaky):
    with pytest.warns(UserWarning, match=r"(?s)did not start \(The current node timed out.*raylet.out.*dashboard_agent exited"):
        cluster = local_cluster.start_local_cluster(nodes=2, cpus_per_node=2)
    first, second = flaky.made
    assert first.shut_down and cluster is second and not second.shut_down
    assert [n["node_ip_address"] for n in second.nodes] == ["127.0.0.1", "127.0.0.1"]
    assert {n["num_cpus"] for n in second.nodes} == {2}


def test_the_last_failure_is_raised_with_the_logs(flaky):
    flaky.failures = 3
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match=r"(?s)did not start in 3 attempts.*dashboard_agent exited"):
        local_cluster.start_local_cluster(nodes=2, cpus_per_node=2)
    assert len(flaky.made) == 3 and all(c.shut_down for c in flaky.made)


def test_no_logs_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setattr(local_cluster, "SESSION_LATEST", tmp_path / "nothing")
    assert local_cluster.startup_logs().startswith(f"(no Ray logs under {tmp_path / 'nothing' / 'logs'})\n")


def test_the_report_names_this_process_s_children(monkeypatch, tmp_path):
    monkeypatch.setattr(local_cluster, "SESSION_LATEST", tmp_path / "nothing")
    child = subprocess.Popen(["sleep", "30"])
    try:
        while b"sleep" not in Path(f"/proc/{child.pid}/cmdline").read_bytes():  # until it has exec'd
            time.sleep(0.01)
        line = next(x for x in local_cluster.startup_logs().splitlines() if x.startswith(f"{child.pid} "))
        assert line.endswith(" [sleep] sleep 30")
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("ending, said", [(["sh", "-c", "exit 3"], "exited 3"), (["sleep", "30"], "killed by SIGKILL")])
def test_the_report_says_how_a_dead_child_ended(monkeypatch, tmp_path, ending, said):
    monkeypatch.setattr(local_cluster, "SESSION_LATEST", tmp_path / "nothing")
    child = subprocess.Popen(ending)
    try:
        if ending[0] == "sleep":
            child.kill()
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":  # dead, not reaped
            time.sleep(0.01)
        line = next(x for x in local_cluster.startup_logs().splitlines() if x.startswith(f"{child.pid} "))
        assert line.startswith(f"{child.pid} Z [") and f"({said})" in line
    finally:
        child.kill()
        child.wait()


@pytest.mark.game
def test_the_real_cluster_is_on_loopback(cluster):
    ray = pytest.importorskip("ray")
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert cluster.address.startswith("127.0.0.1:")
