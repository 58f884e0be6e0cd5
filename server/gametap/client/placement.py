"""Following a match to the worker process that runs it.

The daemon runs each match in one of its workers and names it in Match.placement; the
worker serves that match's Watch, GetState and Play on its own port, on the daemon's
host. Going there directly keeps the per-frame bytes off the daemon. The daemon's own
address serves the same calls for clients that do not follow (it passes the bytes on)."""
from __future__ import annotations

from gametap.v1 import match_pb2 as mpb


def worker_address(daemon_address: str, match: mpb.Match) -> str | None:
    """HOST:PORT of the worker that runs `match`, on the daemon's host; None if it names none."""
    port = match.placement.grpc_port
    if not port:
        return None
    host = daemon_address.rpartition(":")[0]
    return f"{host}:{port}" if host else None
