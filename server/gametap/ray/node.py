"""GametapNode: the Ray actor that owns one gametap daemon on its node.

The fleet starts one per node, pinned there. It runs `gametap serve` on loopback (its workers
use the node's cores), creates and stops matches through it, and reports what it runs. The
per-step traffic of a match stays on its node: agents there talk to this daemon on loopback,
and only the fleet's control calls (and whatever the agents ship) cross the network.

If the actor's process dies, the kernel takes the daemon with it (PR_SET_PDEATHSIG), and the
daemon's games follow theirs. Ray then restarts the actor on the same node. The new one starts
a new daemon with a new `incarnation`, which tells the fleet that the old daemon's matches are
gone.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import ray

from gametap.client import Client
from gametap.client.sync import ENDED
from gametap.testing import start_daemon
from gametap.v1 import match_pb2 as mpb

NAMESPACE = "gametap"  # where the fleet's named actors live, whatever the driver's namespace is


def actor_name(node_id: str) -> str:
    """The name of node_id's GametapNode, so that anything on the node (an RLlib EnvRunner)
    can find its daemon: ray.get_actor(actor_name(node_id), namespace=NAMESPACE)."""
    return f"gametap-node-{node_id}"


def local_daemon_address() -> str:
    """The gRPC address of the fleet daemon on the node this process runs on."""
    node_id = ray.get_runtime_context().get_node_id()
    try:
        node = ray.get_actor(actor_name(node_id), namespace=NAMESPACE)
    except ValueError:
        raise LookupError(f"no gametap node on Ray node {node_id[:12]}: start a gametap.ray.Fleet first "
                          "(it puts a daemon on every node)") from None
    return ray.get(node.describe.remote())["grpc"]


def node_cpus(node_id: str) -> int:
    """The node's CPUs as Ray counts them (a container's limit, not the host's cores); at least 1."""
    node = next((n for n in ray.nodes() if n["NodeID"] == node_id), {})
    return max(1, int(node.get("Resources", {}).get("CPU", 1)))


class GametapNode:
    """The actor's body; gametap.ray.fleet wraps it with ray.remote and pins it to a node."""

    def __init__(self, serve_args: tuple[str, ...] = (), state_dir: str | None = None):
        self.node_id = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        self.incarnation = uuid.uuid4().hex
        base = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="gametap-ray-"))
        self.state_dir = base / self.incarnation  # a restarted actor never reads its predecessor's state
        self.state_dir.mkdir(parents=True)
        if "--workers" not in serve_args:  # as many as Ray says the node has: in a container,
            serve_args = ("--workers", str(node_cpus(self.node_id)), *serve_args)  # not the host's count
        self._daemon = start_daemon(self.state_dir, "--no-default-match", *serve_args, timeout=60,
                                    die_with_parent=True)
        self._client = Client(self._daemon.grpc)

    def describe(self) -> dict:
        """Who and where this node's daemon is, and what it runs now."""
        matches = self._client.list_matches()
        running = [m for m in matches if m.status not in ENDED]
        return {
            "node_id": self.node_id, "node_ip": self.node_ip, "incarnation": self.incarnation,
            "grpc": self._daemon.grpc, "http": self._daemon.http, "pid": os.getpid(),
            "daemon_pid": self._daemon.proc.pid, "running": len(running),
        }

    def create_match(self, config: bytes) -> bytes:
        """config: a serialized MatchConfig; returns the serialized Match as created."""
        return self._client.create_match(mpb.MatchConfig.FromString(config)).SerializeToString()

    def list_matches(self) -> list[bytes]:
        return [m.SerializeToString() for m in self._client.list_matches()]

    def stop_match(self, match_id: str) -> bytes:
        return self._client.stop_match(match_id).SerializeToString()

    def shutdown(self) -> int:
        """Stops the daemon and its games (their recordings stay in state_dir); returns its exit
        status."""
        self._client.close()
        return self._daemon.stop()
