"""What every gametap gRPC server shares: its options and its interceptors (metrics, then the
token check). The daemon's server is gametap.daemon.grpc_server's, a worker's
gametap.worker.grpc_server's."""
from __future__ import annotations

import grpc

from gametap.core.auth import Gate
from gametap.core.metrics import RpcMetrics
from gametap.rpc.auth_interceptor import AuthInterceptor

SERVER_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    # grpcio sets SO_REUSEPORT by default: a second daemon on a port in use then started, and
    # the two answered in turn. Without it, binding a used port fails, as it does for HTTP.
    ("grpc.so_reuseport", 0),
]


def new_server(gate: Gate) -> grpc.aio.Server:
    """Always with the token check: a reload may bring tokens to a daemon that had none."""
    # RpcMetrics first: calls refused for their token are counted too.
    return grpc.aio.server(interceptors=[RpcMetrics(), AuthInterceptor(gate)], options=SERVER_OPTIONS)
