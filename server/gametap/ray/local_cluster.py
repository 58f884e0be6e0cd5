"""Several Ray nodes on this one machine, on loopback: for the tests, the bench and trying a fleet out.

`ray.cluster_utils.Cluster` starts the nodes. In the test suite's process (after hundreds of
tests, with gRPC threads and a daemon running) a node process now and then dies as soon as it
is started, with nothing in its logs: a GCS whose port file never comes, or a raylet that never
registers ("The current node timed out during startup"). 1 or 2 of the suite's 16 starts did
in some CI runs, none in quiet runs. Ray's error says nothing of why, so a failed start here
prints the tails of that session's logs and this process's children (a dead one with how it
ended), removes what it had started, and tries again, up to three times in all. The report
found a child killed by SIGABRT before its exec: Ray forks with a preexec_fn, so gRPC's fork
handlers run in the child. A process that starts clusters should run gRPC with
GRPC_ENABLE_FORK_SUPPORT=false, set before grpc is imported, as the tests do (tests/conftest.py).

Everything listens on loopback. Ray replaces 127.0.0.1 in an address by the machine's own IP
(`services.resolve_ip_for_localhost`) unless it thinks it runs where clusters are not supported;
its switch for that, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, keeps this process and every process
it starts (the raylets, their workers, a script given the address) on 127.0.0.1.
"""
from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import ray
from ray._private import ray_constants
from ray.cluster_utils import Cluster

# Ray waits 10 s by default for a raylet to register; a loaded VM has needed more (seen in the bench).
os.environ.setdefault("RAY_raylet_start_wait_time_s", "60")

LOOPBACK = "127.0.0.1"
SESSION_LATEST = Path("/tmp/ray/session_latest")  # Ray's default temp dir; Cluster does not move it
LOG_LINES = 12


def start_local_cluster(nodes: int, cpus_per_node: int, *, attempts: int = 3) -> Cluster:
    """A head and nodes - 1 more nodes of cpus_per_node CPUs each, all registered, this process connected."""
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"  # for the processes it starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # for this one, which imported Ray before
    for attempt in range(1, attempts + 1):
        cluster = Cluster(initialize_head=False)
        try:
            for _ in range(nodes):
                cluster.add_node(num_cpus=cpus_per_node, node_ip_address=LOOPBACK, include_dashboard=False)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False)
        except Exception as e:
            logs = startup_logs()
            _remove(cluster)
            if attempt == attempts:
                raise RuntimeError(f"a local Ray cluster of {nodes} nodes did not start in {attempts} attempts: "
                                   f"{e}\n{logs}") from e
            warnings.warn(f"a local Ray cluster did not start ({e}); trying again.\n{logs}", stacklevel=2)
            continue
        if not cluster.address.startswith(LOOPBACK + ":"):
            raise RuntimeError(f"the local Ray cluster listens on {cluster.address}, not on loopback: has Ray changed?")
        return cluster
    raise AssertionError("unreachable")


def startup_logs() -> str:
    """The last lines of the newest session's raylet and GCS logs: why a node did not register."""
    logs = SESSION_LATEST / "logs"
    parts = []
    for path in sorted(logs.glob("raylet*.[oe]*")) + sorted(logs.glob("gcs_server.[oe]*")):
        lines = path.read_text(errors="replace").splitlines()[-LOG_LINES:]
        if lines:
            parts.append(f"--- {path}\n" + "\n".join(lines))
    parts.append("--- this process's children:\n" + "\n".join(_children()))
    return "\n".join(parts) if logs.is_dir() else f"(no Ray logs under {logs})\n" + parts[-1]


def _children() -> list[str]:
    """pid, state, name and command line of each child, and how a dead one ended: a node process
    that died before exec is named like us (python), one that died after it by its binary."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == os.getpid():
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                ended = f" ({_how_it_ended(int(proc.name))})" if state == "Z" else ""
                out.append(f"{proc.name} {state} [{name}]{ended} {cmdline[:160]}".rstrip())
        except (OSError, ValueError, IndexError):
            continue
    return out or ["(none)"]


def _how_it_ended(pid: int) -> str:
    """A zombie child's exit, read without reaping it (its Popen, lost with the failed node, may still)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return "still running"
    if info.si_code == os.CLD_EXITED:
        return f"exited {info.si_status}"
    return f"killed by {signal.Signals(info.si_status).name}"


def _remove(cluster: Cluster) -> None:
    """Stops what a failed start left: the nodes Cluster knows and any process of that session it does not."""
    ray.shutdown()
    try:
        cluster.shutdown()
    except Exception:  # noqa: BLE001 - a half-started node may not shut down cleanly; the sweep below ends it
        pass
    session = str(SESSION_LATEST.resolve())
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if session.encode() in (proc / "cmdline").read_bytes() and int(proc.name) != os.getpid():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
