"""Driving player slots: the Play stream, sync (AgentStream) and asyncio (AsyncAgentStream).

Both join on creation and keep the observed world current: `world` is the whole
world (FULL slots), `views[client]` what each slot sees (its PVS view, or the
whole world for FULL slots), `teachers[client]` what the slot's bot AI chose.
With `observation=FEATURES` (or WORLD_AND_FEATURES) the daemon computes each slot's
feature tensor: `features` is a float32 array, one row per client of `feature_clients`
(the layout of gametap.client.features), read straight from the message's bytes.

    with AgentStream(client, match_id, [SlotSpec(name="bot-0")]) as agents:
        obs = agents.observe()
        while not obs.final:
            obs = agents.step([Action(client=agents.clients[0], forward=1, yaw=90)])
"""
from __future__ import annotations

import queue
from collections.abc import Iterable

import grpc
import numpy as np

from gametap.client.world import World
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import agent_pb2_grpc

_CLOSE = object()


class _Observed:
    """The worlds a stream's observations keep current."""

    def __init__(self, joined: apb.Joined, slots: list[apb.SlotSpec]):
        self.match_id = joined.match_id
        self.clients = list(joined.clients)
        self.frames_per_step = joined.frames_per_step
        self.world = World()
        self.views: dict[int, World] = {}
        for client, spec in zip(self.clients, slots):
            self.views[client] = World() if spec.visibility == apb.PVS else self.world
        self.teachers: dict[int, apb.Action] = {}
        self.frame = 0
        self.final = False
        self.left: list[int] = []
        self.feature_size = joined.feature_size
        self.features = np.zeros((0, joined.feature_size), np.float32)
        self.feature_clients: list[int] = []

    def _apply(self, obs: apb.Observation) -> apb.Observation:
        if obs.HasField("world"):
            self.world.apply(obs.world)
        for s in obs.slots:
            if s.HasField("view"):
                self.views.setdefault(s.client, World()).apply(s.view)
            if s.has_teacher:
                self.teachers[s.client] = s.teacher
        if obs.features:
            self.feature_clients = [s.client for s in obs.slots]
            self.features = np.frombuffer(obs.features, np.float32).reshape(len(self.feature_clients), -1)
        self.frame = obs.frame
        self.final = obs.final
        if obs.left:
            self.left += obs.left
            self.clients = [c for c in self.clients if c not in obs.left]
        return obs


def _join_request(match_id, slots, frames_per_step, action_timeout_ms, observation) -> apb.PlayRequest:
    return apb.PlayRequest(join=apb.JoinRequest(match_id=match_id, slots=slots, frames_per_step=frames_per_step,
                                                action_timeout_ms=action_timeout_ms, observation=observation))


def _act_request(frame: int, actions: Iterable[apb.Action]) -> apb.PlayRequest:
    return apb.PlayRequest(act=apb.ActionBatch(frame=frame, actions=list(actions)))


class AgentStream(_Observed):
    """A blocking Play stream (gRPC runs the request side in its own thread).

    Attributes (kept current by observe):
        match_id: The match's id.
        clients: The slots' client numbers, in the order of `slots`; a slot that left is dropped.
        frames_per_step: Frames per step, as the daemon granted it.
        world: The whole world (the FULL slots' shared World).
        views: client -> the World that slot sees (its own for a PVS slot, else `world`).
        teachers: client -> the apb.Action its bot AI chose last (once it has chosen).
        frame: The frame of the last observation; act() answers it.
        final: The match ended with the last observation.
        left: Every client the stream lost, in the order lost.
        feature_size: float32 values per slot in a FEATURES observation.
        features: float32 (len(feature_clients), feature_size), read-only (a view of the
            message's bytes); empty until a FEATURES observation came.
        feature_clients: The client of each row of `features`.
    """

    def __init__(self, client, match_id: str, slots: list[apb.SlotSpec], frames_per_step: int = 1,
                 action_timeout_ms: int = 0, observation: int = apb.WORLD):
        """Joins the slots; blocks until their players are in the game.

        A LOCKSTEP match held for more agents (hold_for_agents) answers once all of them joined,
        with no time limit, so open the others' streams from other threads or processes.

        Args:
            client: A gametap.client.Client (the stream goes to the worker that runs the match;
                if that worker cannot be reached, through the daemon).
            match_id: The match's id.
            slots: 1..64 apb.SlotSpec, the player slots this stream drives.
            frames_per_step: Each action holds for this many frames, and an observation comes
                every this many frames (0: 1).
            action_timeout_ms: LOCKSTEP: a frame waits at most this long for this stream's
                actions, then the last ones repeat (0: 1000).
            observation: apb.WORLD, apb.FEATURES or apb.WORLD_AND_FEATURES.

        Raises:
            grpc.RpcError: NOT_FOUND (no such match), FAILED_PRECONDITION (the match has ended),
                INVALID_ARGUMENT (a bad slot), RESOURCE_EXHAUSTED (the match is full, or the
                [limits] of play streams), UNAVAILABLE (the game did not add the players within
                30 s), PERMISSION_DENIED (the token lacks the play role).
        """
        join = _join_request(match_id, slots, frames_per_step, action_timeout_ms, observation)
        channel = client.data_channel(match_id)
        try:
            first = self._open(channel, join)
        except grpc.RpcError as e:
            if channel is client.channel or e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            first = self._open(client.channel, join)  # its worker cannot be reached: through the daemon
        super().__init__(first.joined, list(slots))

    def _open(self, channel, join: apb.PlayRequest) -> apb.PlayResponse:
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._requests.put(join)
        self._call = agent_pb2_grpc.AgentServiceStub(channel).Play(iter(self._requests.get, _CLOSE))
        return next(self._call)

    def observe(self) -> apb.Observation:
        """The next observation (blocks); applied to world, views, teachers and features first.

        Returns:
            The Observation: frame, final, left, and per slot its view and teacher action.

        Raises:
            grpc.RpcError: The status the stream ended with, e.g. INVALID_ARGUMENT for an action
                the daemon refused (a wrong frame, an unknown client).
            StopIteration: The daemon ended the stream without an error (after the final observation).
        """
        return self._apply(next(self._call).observation)

    def act(self, actions: Iterable[apb.Action]) -> None:
        """Answers the last observation (frame) without waiting; errors come with the next observe().

        Args:
            actions: At most one apb.Action per slot (Action.client says which); a slot left
                out keeps its last action.
        """
        self._requests.put(_act_request(self.frame, actions))

    def step(self, actions: Iterable[apb.Action]) -> apb.Observation:
        """Answers the last observation and waits for the next.

        Args:
            actions: As act().

        Returns:
            The next Observation, as observe().

        Raises:
            grpc.RpcError, StopIteration: As observe().
        """
        self.act(actions)
        return self.observe()

    def leave(self, clients: Iterable[int] = ()) -> None:
        """Gives slots back (their players leave the match) without waiting; the next observation
        lists them in `left`.

        Args:
            clients: The stream's client numbers to give back; empty: all of them.
        """
        self._requests.put(apb.PlayRequest(leave=apb.LeaveRequest(clients=list(clients))))

    def close(self) -> None:
        """Ends the stream (its slots leave the match); does not wait for the daemon."""
        self._requests.put(_CLOSE)
        self._call.cancel()

    def __enter__(self) -> AgentStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncAgentStream(_Observed):
    """An asyncio Play stream: `stream = await AsyncAgentStream.open(channel, ...)`.

    The attributes are AgentStream's, kept current by observe."""

    @classmethod
    async def open(cls, channel, match_id: str, slots: list[apb.SlotSpec], frames_per_step: int = 1,
                   action_timeout_ms: int = 0, observation: int = apb.WORLD) -> AsyncAgentStream:
        """Joins the slots; returns once their players are in the game (as AgentStream's constructor).

        Args:
            channel: A grpc.aio channel, or a gametap.client.AsyncClient (which goes to the match's
                worker; no fallback to the daemon if that worker cannot be reached).
            match_id, slots, frames_per_step, action_timeout_ms, observation: As AgentStream's.

        Returns:
            The joined stream.

        Raises:
            grpc.RpcError: As AgentStream's constructor.
        """
        if hasattr(channel, "data_channel"):
            channel = await channel.data_channel(match_id)
        call = agent_pb2_grpc.AgentServiceStub(channel).Play()
        await call.write(_join_request(match_id, slots, frames_per_step, action_timeout_ms, observation))
        first = await call.read()
        if first is grpc.aio.EOF:
            await call  # raises the status the server ended the stream with
        self = cls(first.joined, list(slots))
        self._call = call
        return self

    async def observe(self) -> apb.Observation:
        """The next observation; applied to world, views, teachers and features first.

        Returns:
            The Observation.

        Raises:
            grpc.RpcError: The status the stream ended with (as AgentStream.observe).
            EOFError: The daemon ended the stream without an error (after the final observation).
        """
        response = await self._call.read()
        if response is grpc.aio.EOF:
            await self._call
            raise EOFError("the server ended the stream")
        return self._apply(response.observation)

    async def act(self, actions: Iterable[apb.Action]) -> None:
        """Answers the last observation (frame); errors come with the next observe().

        Args:
            actions: At most one apb.Action per slot; a slot left out keeps its last action.
        """
        await self._call.write(_act_request(self.frame, actions))

    async def step(self, actions: Iterable[apb.Action]) -> apb.Observation:
        """Answers the last observation and waits for the next.

        Args:
            actions: As act().

        Returns:
            The next Observation.

        Raises:
            grpc.RpcError, EOFError: As observe().
        """
        await self.act(actions)
        return await self.observe()

    async def leave(self, clients: Iterable[int] = ()) -> None:
        """Gives slots back; the next observation lists them in `left`.

        Args:
            clients: The stream's client numbers to give back; empty: all of them.
        """
        await self._call.write(apb.PlayRequest(leave=apb.LeaveRequest(clients=list(clients))))

    async def close(self) -> None:
        """Closes the request side and cancels the stream (its slots leave the match)."""
        await self._call.done_writing()
        self._call.cancel()
