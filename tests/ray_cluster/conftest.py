"""A real local Ray cluster: a head and a second node on this machine, 2 CPUs each, on loopback."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
from gametap.ray.local_cluster import start_local_cluster  # noqa: E402

NODE_CPUS = 2


@pytest.fixture
def cluster():
    """A fresh cluster per test: tests kill actors and remove nodes."""
    c = start_local_cluster(nodes=2, cpus_per_node=NODE_CPUS)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
