"""The gRPC server: gametap.v1 services, grpc.health.v1 and server reflection."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gametap.auth import Gate
from gametap.manager import MatchManager
from gametap.rpc.agent_service import AgentService
from gametap.rpc.auth_interceptor import AuthInterceptor
from gametap.rpc.match_service import MatchService
from gametap.rpc.observe_service import ObserveService
from gametap.v1 import agent_pb2, match_pb2, match_pb2_grpc, observe_pb2

SERVICE_NAMES = (
    match_pb2.DESCRIPTOR.services_by_name["MatchService"].full_name,
    observe_pb2.DESCRIPTOR.services_by_name["ObserveService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
)


def build_server(manager: MatchManager) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A server with every service added and no port bound (no side effects)."""
    gate = Gate(manager.settings.tokens)
    server = grpc.aio.server(interceptors=[AuthInterceptor(gate)] if gate.enabled else [], options=[
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ])
    match_pb2_grpc.add_MatchServiceServicer_to_server(MatchService(manager), server)
    server.add_generic_rpc_handlers((ObserveService(manager).handler(), AgentService(manager).handler()))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
    return server, health_servicer


async def mark_serving(health_servicer: health.aio.HealthServicer) -> None:
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
