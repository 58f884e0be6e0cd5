"""The dm_env_rpc Environment servicer: each Process stream is one connection.

A request that cannot be carried out gets an error response (google.rpc.Status: the gRPC code
and a message that says why) and the stream goes on, as dm_env_rpc asks; the connection's
state is as it was before the request.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent import futures

import grpc
from dm_env_rpc.v1 import dm_env_rpc_pb2 as dm
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2

from gametap.client.sync import Client
from gametap.dmrpc import specs
from gametap.dmrpc.worlds import Session, WorldError, Worlds
from gametap.v1 import match_pb2 as mpb

log = logging.getLogger("gametap.dmrpc")
SERVICE = dm.DESCRIPTOR.services_by_name["Environment"].full_name  # "dm_env_rpc.v1.Environment"


class RequestError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class Unparsable:
    """A request whose bytes are no EnvironmentRequest (what the parser said)."""
    def __init__(self, why: str):
        self.why = why


def parse_request(data: bytes) -> dm.EnvironmentRequest | Unparsable:
    """The stream's own request parser: bad bytes get an error response and the stream goes on
    (grpc's, failing, would end the stream, and its server then never finishes stopping)."""
    try:
        return dm.EnvironmentRequest.FromString(data)
    except DecodeError as e:
        return Unparsable(str(e))


class Connection:
    """One Process stream: at most one joined world at a time."""

    def __init__(self, service: EnvironmentService):
        self.service = service
        self.session: Session | None = None

    def handle(self, request: dm.EnvironmentRequest | Unparsable) -> dm.EnvironmentResponse:
        if isinstance(request, Unparsable):
            return _error(code_pb2.INVALID_ARGUMENT, f"a request that is no dm_env_rpc EnvironmentRequest: {request.why}")
        kind = request.WhichOneof("payload")
        handler = getattr(self, f"_{kind}", None) if kind else None
        if handler is None:
            return _error(code_pb2.UNIMPLEMENTED, f"this server does not take {kind or 'an empty'} requests")
        try:
            return dm.EnvironmentResponse(**{kind: handler(getattr(request, kind))})
        except (specs.InvalidTensor, WorldError) as e:
            return _error(code_pb2.INVALID_ARGUMENT, str(e))
        except RequestError as e:
            return _error(e.code, str(e))
        except grpc.RpcError as e:  # the daemon refused or failed (its code and words are the user's best clue)
            return _error(e.code().value[0] if e.code() else code_pb2.UNKNOWN, f"the gametap daemon: {e.details()}")

    def _create_world(self, r: dm.CreateWorldRequest) -> dm.CreateWorldResponse:
        world = self.service.worlds.create(self.service.checked(specs.settings(r.settings)))
        return dm.CreateWorldResponse(world_name=world.name)

    def _destroy_world(self, r: dm.DestroyWorldRequest) -> dm.DestroyWorldResponse:
        if self.session is not None and self.session.world.name == r.world_name:
            raise RequestError(code_pb2.FAILED_PRECONDITION, "this connection is joined to that world: leave it first")
        self.service.worlds.destroy(r.world_name)
        return dm.DestroyWorldResponse()

    def _join_world(self, r: dm.JoinWorldRequest) -> dm.JoinWorldResponse:
        if self.session is not None:
            raise RequestError(code_pb2.FAILED_PRECONDITION,
                               f"this connection is joined to {self.session.world.name!r} already")
        if r.settings:
            raise specs.InvalidTensor(f"JoinWorld takes no settings, not {', '.join(sorted(r.settings))}")
        world = self.service.worlds.join(r.world_name)
        self.session = Session(world, self.service.game.bots, self.service.server, self.service.token)
        return dm.JoinWorldResponse(specs=specs.specs_response())

    def _leave_world(self, r: dm.LeaveWorldRequest) -> dm.LeaveWorldResponse:
        self.leave()
        return dm.LeaveWorldResponse()

    def _step(self, r: dm.StepRequest) -> dm.StepResponse:
        session = self._joined()
        specs.check_requested(r.requested_observations)  # checked before anything moves
        action = specs.actions(r.actions) if session.playing else None  # a first step's are ignored, as they come
        step = session.step(action)
        state = dm.EnvironmentStateType.TERMINATED if step.ended else dm.EnvironmentStateType.RUNNING
        return dm.StepResponse(state=state, observations=specs.observations(
            r.requested_observations, step.features, step.reward, step.frame))

    def _reset(self, r: dm.ResetRequest) -> dm.ResetResponse:
        session = self._joined()
        if r.settings:
            raise specs.InvalidTensor(f"Reset takes no settings (ResetWorld changes a world's), not "
                                      f"{', '.join(sorted(r.settings))}")
        session.reset()
        return dm.ResetResponse(specs=specs.specs_response())

    def _reset_world(self, r: dm.ResetWorldRequest) -> dm.ResetWorldResponse:
        world = self.service.worlds.get(r.world_name)
        world.settings = self.service.checked(specs.settings(r.settings, base=world.settings))
        if self.session is not None and self.session.world is world:
            self.session.reset()
        return dm.ResetWorldResponse()

    def _joined(self) -> Session:
        if self.session is None:
            raise RequestError(code_pb2.FAILED_PRECONDITION, "this connection has not joined a world")
        return self.session

    def leave(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.close()
            self.service.worlds.leave(session.world)


def _error(code: int, message: str) -> dm.EnvironmentResponse:
    return dm.EnvironmentResponse(error=status_pb2.Status(code=code, message=message))


class EnvironmentService:
    """dm_env_rpc's Environment, played on the gametap daemon at `server`."""

    def __init__(self, server: str, token: str | None, game: mpb.GameDescription):
        self.server, self.token, self.game = server, token, game
        self.worlds = Worlds()

    def checked(self, settings: dict) -> dict:
        """World settings the daemon's game can play (its maps; room for the bots and the agent)."""
        maps = {m.name for m in self.game.maps}
        if settings["map"] not in maps:
            raise specs.InvalidTensor(f"the game has no map {settings['map']!r} (it has {', '.join(sorted(maps))})")
        if settings["bots"] + 1 > self.game.max_bot_players:
            raise specs.InvalidTensor(f"{settings['bots']} bots and the agent are more than the "
                                      f"{self.game.max_bot_players} players the game's bot code drives")
        return settings

    def Process(self, requests: Iterator[dm.EnvironmentRequest], context) -> Iterator[dm.EnvironmentResponse]:
        connection = Connection(self)
        try:
            for request in requests:
                yield connection.handle(request)
        finally:
            connection.leave()  # a client gone mid-episode leaves its match: it ends (end_when_agents_leave)


def serve(listen: str, server: str, token: str | None = None, connections: int = 16) -> grpc.Server:
    """Starts a dm_env_rpc server on `listen` (host:port) for the daemon at `server`, for up to
    `connections` streams at once (each holds a thread for its life); returns it."""
    with Client(server, token=token) as client:
        service = EnvironmentService(server, token, client.describe_game())
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=connections, thread_name_prefix="dmrpc"),
                              maximum_concurrent_rpcs=connections)
    process = grpc.stream_stream_rpc_method_handler(service.Process, request_deserializer=parse_request,
                                                    response_serializer=dm.EnvironmentResponse.SerializeToString)
    grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Process": process}),))
    if grpc_server.add_insecure_port(listen) == 0:
        raise OSError(f"cannot listen on {listen}")
    grpc_server.start()
    log.info("dm_env_rpc: serving %s on %s (%d maps, %d bots)", server, listen, len(service.game.maps),
             len(service.game.bots))
    return grpc_server
