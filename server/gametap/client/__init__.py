"""The Python client library: talk to a gametap daemon and follow a match's world.

Importable without the daemon's internals: it needs only the generated
protobuf modules (gametap.v1, gametap.q3.v1) and grpcio.
"""
from gametap.client.agent import AgentStream, AsyncAgentStream
from gametap.client.aio import AsyncClient
from gametap.client.sync import Client
from gametap.client.world import World, WorldError

__all__ = ["AgentStream", "AsyncAgentStream", "AsyncClient", "Client", "World", "WorldError"]
