"""gametap.ray's fleet on a real local Ray cluster, with real daemons running real games."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from gametap.client import Client
from gametap.client.sync import ENDED
from gametap.ray import Fleet, NoCapacity
from gametap.testing import pid_alive, wait_until
from gametap.v1 import match_pb2 as mpb

from .conftest import NODE_CPUS

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.game]


def config(seed: int = 7) -> mpb.MatchConfig:
    return mpb.MatchConfig(map="oa_dm1", clock=mpb.REALTIME, seed=seed, bots=[mpb.BotConfig(name="Sarge", skill=1)])


def running(fleet: Fleet, match_id: str) -> bool:
    return fleet.get_match(match_id).status == mpb.RUNNING


@pytest.fixture
def fleet(cluster):
    f = Fleet(cpus_per_match=1)
    try:
        yield f
    finally:
        f.shutdown()


def test_matches_go_to_the_least_loaded_node_and_run_there(fleet):
    first, second = fleet.create_match(config(1)), fleet.create_match(config(2))
    assert first.node_id != second.node_id  # both nodes had 2 free CPUs: the second goes where 2 are still free
    for m in (first, second):
        wait_until(lambda m=m: running(fleet, m.id), 60, f"match {m.id} running")
        with Client(m.grpc) as node_daemon:  # the match lives in that node's own daemon
            assert node_daemon.get_match(m.id).status == mpb.RUNNING
    nodes = {n["node_id"]: n for n in fleet.sync()}
    assert {n["running"] for n in nodes.values()} == {1}
    assert {n["free_cpus"] for n in nodes.values()} == {NODE_CPUS - 1}
    third = fleet.create_match(config(3))
    assert third.node_id in nodes
    assert fleet.stop_match(third.id).status == mpb.STOPPED


def test_each_match_reserves_its_cpus_in_ray(fleet):
    total = ray.cluster_resources()["CPU"]
    wait_until(lambda: ray.available_resources().get("CPU", 0) == total, 30, "an idle cluster")
    m = fleet.create_match(config(), cpus=1.5)
    assert ray.available_resources().get("CPU", 0) == pytest.approx(total - 1.5)
    fleet.stop_match(m.id)
    wait_until(lambda: ray.available_resources().get("CPU", 0) == total, 30, "the reservation released")


def test_a_match_no_node_can_take_is_refused_with_the_reason(fleet):
    with pytest.raises(NoCapacity, match=rf"no node can take a match of {NODE_CPUS + 1} CPUs.*CPUs free"):
        fleet.create_match(config(), cpus=NODE_CPUS + 1)
    assert fleet.list_matches() == []


def test_a_killed_node_actor_fails_its_matches_and_the_fleet_carries_on(fleet):
    doomed, survivor = fleet.create_match(config(1)), fleet.create_match(config(2))
    wait_until(lambda: running(fleet, doomed.id) and running(fleet, survivor.id), 60, "both matches running")
    node = next(n for n in fleet.sync() if n["node_id"] == doomed.node_id)
    game_pid = fleet.get_match(doomed.id).match.pid
    os.kill(node["pid"], signal.SIGKILL)  # the actor's process, mid-match
    wait_until(lambda: fleet.get_match(doomed.id).status == mpb.FAILED, 60, "the lost node's match FAILED")
    failure = fleet.get_match(doomed.id).failure
    assert doomed.node_id[:12] in failure and "gametap node actor" in failure
    wait_until(lambda: not pid_alive(node["daemon_pid"]) and not pid_alive(game_pid), 30,
               "the dead actor's daemon and game gone")
    assert fleet.get_match(survivor.id).status == mpb.RUNNING
    # Ray restarts the actor on its node, with a new daemon; new matches run again.
    wait_until(lambda: all(not n["problem"] for n in fleet.sync()), 60, "every node answering again")
    restarted = next(n for n in fleet.sync() if n["node_id"] == doomed.node_id)
    assert restarted["incarnation"] != node["incarnation"] and restarted["daemon_pid"] != node["daemon_pid"]
    again = fleet.create_match(config(3))
    wait_until(lambda: running(fleet, again.id), 60, "a new match running")


def test_a_node_that_leaves_the_cluster_fails_its_matches_and_new_ones_go_elsewhere(cluster, fleet):
    head_id = ray.get_runtime_context().get_node_id()
    matches = [fleet.create_match(config(s)) for s in (1, 2)]
    lost = next(m for m in matches if m.node_id != head_id)
    wait_until(lambda: running(fleet, lost.id), 60, "the second node's match running")
    second_node = next(n for n in cluster.list_all_nodes() if not n.head)
    cluster.remove_node(second_node)
    wait_until(lambda: fleet.get_match(lost.id).status == mpb.FAILED, 60, "the departed node's match FAILED")
    assert lost.node_id[:12] in fleet.get_match(lost.id).failure
    kept = next(m for m in matches if m.node_id == head_id)
    assert fleet.get_match(kept.id).status not in ENDED
    elsewhere = fleet.create_match(config(3))
    assert elsewhere.node_id == head_id


def test_the_rest_of_gametap_runs_without_ray():
    code = ("import sys; sys.modules['ray'] = None\n"  # any `import ray` now fails
            "import gametap.cli, gametap.daemon.daemon, gametap.client, gametap.client.envs, gametap.client.vector\n"
            "try:\n    import gametap.ray\nexcept ImportError:\n    print('no ray, as expected')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no ray, as expected" in out.stdout
