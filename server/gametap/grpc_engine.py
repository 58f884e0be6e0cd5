"""Which I/O engine gRPC's core runs in every gametap process, chosen before grpcio loads.

grpcio 1.85 does a channel's and a server's I/O on its EventEngine, two experiments that are
on by default (event_engine_client, event_engine_listener): its own threads do the I/O and
hand every message over to Python's. Under grpc.aio that about doubles what a message costs.
Measured with benchmarks/transport_options.py on a 2-core VM, quiet, a bare
grpc.aio echo's CPU per round trip was 128 us for the client and 133 us for the server with
them on, and 76 us and 63 us with both off, where gRPC runs its long-standing poller.
docs/hotpath.md has the table and the end-to-end figures.

gRPC reads GRPC_EXPERIMENTS once, when it is imported, so this runs when the gametap package
is. A GRPC_EXPERIMENTS the user set is kept as it is (an empty one keeps gRPC's own defaults),
and so is a gRPC that another import loaded already.
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
