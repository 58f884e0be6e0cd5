"""A real local Ray cluster: a head and a second node on this machine, 2 CPUs each."""
from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

NODE_CPUS = 2
# A raylet on a busy 2-core VM can take longer than Ray's 10 s to register ("GCS cannot find
# the node ... Try increase the RAY_raylet_start_wait_time_s config", seen in the bench).
os.environ.setdefault("RAY_raylet_start_wait_time_s", "60")


def start_cluster() -> Cluster:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": NODE_CPUS, "include_dashboard": False})
    cluster.add_node(num_cpus=NODE_CPUS)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="gametap-tests", log_to_driver=False)
    return cluster


@pytest.fixture
def cluster():
    """A fresh cluster per test: tests kill actors and remove nodes."""
    c = start_cluster()
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
