"""A worker's gRPC server: its matches' data plane (Watch, GetState, Play, PlayMany)."""
from __future__ import annotations

import grpc

from gametap.rpc.server import new_server
from gametap.worker.agent_service import AgentService
from gametap.worker.manager import MatchManager
from gametap.worker.observe_service import ObserveService


def build_worker_server(manager: MatchManager) -> grpc.aio.Server:
    """A worker's server: its matches' Watch, GetState and Play (no port bound)."""
    server = new_server(manager.gate)
    server.add_generic_rpc_handlers((ObserveService(manager).handler(), AgentService(manager).handler()))
    return server
