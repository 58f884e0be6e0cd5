"""The gRPC servers: the daemon's (every service, one address) and a worker's (its matches'
data plane: Watch, GetState, Play)."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gametap.core.auth import Gate
from gametap.core.metrics import RpcMetrics
from gametap.daemon.pool import WorkerPool
from gametap.rpc.agent_service import AgentService
from gametap.rpc.auth_interceptor import AuthInterceptor
from gametap.rpc.match_service import ArchiveService, MatchService
from gametap.rpc.observe_service import ObserveService
from gametap.rpc.proxy import Proxy
from gametap.v1 import agent_pb2, archive_pb2, match_pb2, observe_pb2
from gametap.worker.manager import MatchManager

SERVICE_NAMES = (
    match_pb2.DESCRIPTOR.services_by_name["MatchService"].full_name,
    observe_pb2.DESCRIPTOR.services_by_name["ObserveService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    archive_pb2.DESCRIPTOR.services_by_name["ArchiveService"].full_name,
)
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    # grpcio sets SO_REUSEPORT by default: a second daemon on a port in use then started, and
    # the two answered in turn. Without it, binding a used port fails, as it does for HTTP.
    ("grpc.so_reuseport", 0),
]


def _server(gate: Gate) -> grpc.aio.Server:
    """Always with the token check: a reload may bring tokens to a daemon that had none."""
    # RpcMetrics first: calls refused for their token are counted too.
    return grpc.aio.server(interceptors=[RpcMetrics(), AuthInterceptor(gate)], options=SERVER_OPTIONS)


def build_server(pool: WorkerPool) -> tuple[grpc.aio.Server, health.aio.HealthServicer, Proxy]:
    """The daemon's server with every service added and no port bound (no side effects)."""
    server = _server(pool.gate)
    server.add_generic_rpc_handlers((MatchService(pool).handler(), ArchiveService(pool).handler()))
    proxy = Proxy(pool)
    server.add_generic_rpc_handlers(proxy.handlers())
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
    return server, health_servicer, proxy


def build_worker_server(manager: MatchManager) -> grpc.aio.Server:
    """A worker's server: its matches' Watch, GetState and Play (no port bound)."""
    server = _server(manager.gate)
    server.add_generic_rpc_handlers((ObserveService(manager).handler(), AgentService(manager).handler()))
    return server


async def mark_serving(health_servicer: health.aio.HealthServicer) -> None:
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
