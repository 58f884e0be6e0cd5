"""The daemon's gRPC server: every service at one address (the data calls proxied to workers),
health and reflection."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gametap.daemon.match_service import ArchiveService, MatchService
from gametap.daemon.pool import WorkerPool
from gametap.daemon.proxy import Proxy
from gametap.rpc.server import new_server
from gametap.v1 import agent_pb2, archive_pb2, match_pb2, observe_pb2

SERVICE_NAMES = (
    match_pb2.DESCRIPTOR.services_by_name["MatchService"].full_name,
    observe_pb2.DESCRIPTOR.services_by_name["ObserveService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    archive_pb2.DESCRIPTOR.services_by_name["ArchiveService"].full_name,
)


def build_server(pool: WorkerPool) -> tuple[grpc.aio.Server, health.aio.HealthServicer, Proxy]:
    """The daemon's server with every service added and no port bound (no side effects)."""
    server = new_server(pool.gate)
    server.add_generic_rpc_handlers((MatchService(pool).handler(), ArchiveService(pool).handler()))
    proxy = Proxy(pool)
    server.add_generic_rpc_handlers(proxy.handlers())
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
    return server, health_servicer, proxy


async def mark_serving(health_servicer: health.aio.HealthServicer) -> None:
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
