"""Which I/O engine gRPC's core runs in every gametap process, chosen before grpcio loads.

grpcio 1.85 does a channel's and a server's I/O on its EventEngine, two experiments that are
on by default (event_engine_client, event_engine_listener). Under Python's grpc.aio that
about doubles what a message costs: measured with benchmarks/transport_options.py on the
2-core VM (2026-12-02), a bare grpc.aio echo's CPU per round trip was 195-217 us for the
client and 205-215 us for the server with them on, and 101-107 us and 100-125 us with both
off. With them off, gRPC runs its long-standing poller, the one the transport floor in
DESIGN.md (106 and 112 us) was measured with. docs/hotpath.md has the table.

gRPC reads GRPC_EXPERIMENTS once, when its core starts, so this runs when the gametap
package is imported. A GRPC_EXPERIMENTS the user set is kept as it is (an empty one keeps
gRPC's own defaults), and so is a gRPC core that another import started already.
"""
from __future__ import annotations

import os
import sys

VARIABLE = "GRPC_EXPERIMENTS"
POLLER = "-event_engine_client,-event_engine_listener"  # gRPC's own poller for channels and servers


def choose() -> None:
    if "grpc._cython.cygrpc" in sys.modules:
        return  # gRPC's core started already: the setting would not be read
    os.environ.setdefault(VARIABLE, POLLER)
