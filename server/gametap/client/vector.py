"""PlayMany from the client's side: many members (each one match's slots) over one stream
per worker, so one message a step carries every match that worker runs.

    play = VectorPlay(client)
    play.send(joins=[(0, JoinRequest(match_id=a, ...)), (1, JoinRequest(match_id=b, ...))])
    result = play.recv()                  # joined members and their first observations
    play.send(act=[0, 1], rows=rows)      # rows: float32 (members, slots, ACTION_ROW_SIZE)
    result = play.recv()

recv() waits for every response in flight; recv_any() returns the first to arrive (one
worker's message): several sends may be in flight at once, for different members.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from gametap import wire
from gametap.client import auth
from gametap.v1 import agent_pb2 as apb

_METHOD = "/gametap.v1.AgentService/PlayMany"
ROW = apb.ACTION_ROW_SIZE


@dataclass
class VectorResult:
    """What one send() brought back."""
    observations: dict[int, apb.Observation] = field(default_factory=dict)  # member -> its next observation
    joined: dict[int, apb.Joined] = field(default_factory=dict)
    errors: dict[int, apb.MemberError] = field(default_factory=dict)

    def merge(self, response: apb.VectorResponse) -> None:
        """Adds one worker's response (a member's later entry replaces an earlier one).

        Args:
            response: A VectorResponse of one of the streams.
        """
        self.observations.update(zip(response.members, response.observations))
        for j in response.joined:
            self.joined[j.member] = j.joined
        for e in response.errors:
            self.errors[e.member] = e


class _WorkerStream:
    """One PlayMany call to one worker (grpc.aio, on VectorPlay's own event loop)."""

    def __init__(self, channel: grpc.aio.Channel):
        self.channel = channel
        self.call = channel.stream_stream(_METHOD, request_serializer=None,
                                          response_deserializer=apb.VectorResponse.FromString)()
        self.last_write: asyncio.Task | None = None
        self.pending = 0                          # requests whose responses have not been read
        self.reading: asyncio.Task | None = None  # the read of the next response, once started

    def next_response(self, loop) -> asyncio.Task:
        if self.reading is None:
            self.reading = loop.create_task(self.read())
        return self.reading

    def took(self) -> None:
        """The next response was read."""
        self.reading = None
        self.pending -= 1

    def write(self, loop, data: bytes) -> asyncio.Task:
        """Starts writing a request; gRPC takes one write of a call at a time, so it queues behind the last."""
        self.last_write = loop.create_task(self._write_after(self.last_write, data))
        return self.last_write

    async def _write_after(self, previous: asyncio.Task | None, data: bytes) -> None:
        if previous is not None and not previous.done():
            await previous
        await self.call.write(data)

    async def read(self) -> apb.VectorResponse:
        response = await self.call.read()
        if response is grpc.aio.EOF:
            await self.call  # raises the status the worker ended the stream with
            raise EOFError("the worker ended the PlayMany stream")
        return response

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


_ACT = wire.field_number(apb.VectorRequest, "act")
_ROWS = wire.field_number(apb.VectorRequest, "action_rows")


def _steps_bytes(act: list[int], rows: np.ndarray) -> bytes:
    """VectorRequest.act and .action_rows as wire bytes: packed varints, packed little-endian floats."""
    return wire.packed_varints(_ACT, act) + wire.bytes_field(_ROWS, rows.tobytes())


class VectorPlay:
    """PlayMany streams to the workers that run a set of matches.

    Blocking calls over grpc.aio, each run on a private event loop: measured on the 2-core
    VM, a step costs the client less CPU than over a blocking gRPC stream, whose requests
    are taken by a thread of gRPC's (a hand-over between threads each way)."""

    def __init__(self, client):
        """No stream opens until a join needs one (one per worker).

        Args:
            client: A gametap.client.Client (each member's match is found at its worker; the
                streams take its token and TLS).
        """
        self.client = client
        self._loop = _shared_loop()  # one thread at a time drives VectorPlays
        self._streams: dict[str, _WorkerStream] = {}    # worker address -> its stream
        self._stream_of: dict[int, _WorkerStream] = {}  # member -> the stream it is on

    def _stream_for(self, match_id: str) -> _WorkerStream:
        address = self.client.worker_of(match_id)
        if not address:
            raise RuntimeError(f"match {match_id}'s worker cannot be reached (PlayMany is served by workers only)")
        stream = self._streams.get(address)
        if stream is None:
            async def open_stream() -> _WorkerStream:  # grpc.aio objects belong to the loop they are made on
                return _WorkerStream(auth.aio_channel(address, self.client.token, self.client.tls))
            stream = self._streams[address] = self._loop.run_until_complete(open_stream())
        return stream

    def send(self, act: Sequence[int] = (), rows: np.ndarray | None = None,
             actions: Sequence[apb.ActionBatch] | None = None,
             joins: Iterable[tuple[int, apb.JoinRequest]] = (), leaves: Iterable[int] = (),
             flush: bool = True) -> None:
        """One step's requests: `act` members answer their last observation with `rows`
        (float32, one block of slots x ACTION_ROW_SIZE per member, in act order) or with
        structured `actions` (one ActionBatch per member); `joins` add members, `leaves` drop them.
        flush=False leaves the writing to the recv() that comes next (one turn of the loop, not two).

        Does not wait for the answers: each worker sent a request answers with one VectorResponse,
        which recv() or recv_any() reads. A member's refused join or actions come back in
        VectorResult.errors; the stream and the other members go on.

        Args:
            act: The member keys that act, each joined earlier.
            rows: float32 action rows (len(act), slots, ACTION_ROW_SIZE) or any shape of that many
                values per member, in act order: forward, strafe, jump, yaw, pitch (absolute
                degrees), attack (> 0.5 fires), weapon. Ignored when actions is given.
            actions: One apb.ActionBatch per member of act, instead of rows.
            joins: (member key, JoinRequest) pairs; the key is the caller's, unique among the
                members; the match must be LOCKSTEP.
            leaves: Member keys to drop (their slots leave the game), before the rest.
            flush: As above.

        Raises:
            RuntimeError: A join's match has no worker to reach (PlayMany is served by workers only).
            KeyError: A member of act that has not joined (or has left).
        """
        parts: dict[_WorkerStream, list] = {}  # stream -> [VectorRequest of joins/leaves/actions, act bytes]

        def request(stream: _WorkerStream) -> list:
            if stream not in parts:
                parts[stream] = [apb.VectorRequest(), b""]
            return parts[stream]

        for key in leaves:
            stream = self._stream_of.pop(key, None)
            if stream is not None:
                request(stream)[0].leaves.append(key)
        if len(act):
            self._add_acts(list(act), rows, actions, request)
        for key, join in joins:
            stream = self._stream_for(join.match_id)
            self._stream_of[key] = stream
            request(stream)[0].joins.add(member=key, join=join)
        # serialized messages concatenate as a merge: the joins and leaves, then the steps
        for stream, (req, acts) in parts.items():
            stream.write(self._loop, req.SerializeToString() + acts)
            stream.pending += 1
        if flush:
            self._loop.run_until_complete(_started())  # the writes are on their way

    def _add_acts(self, act: list[int], rows, actions, request) -> None:
        streams = [self._stream_of[k] for k in act]
        if actions is not None:
            for key, stream, batch in zip(act, streams, actions):
                req = request(stream)[0]
                req.act.append(key)
                req.actions.append(batch)
            return
        rows = np.ascontiguousarray(rows, "<f4").reshape(len(act), -1)
        first = streams[0]
        if all(s is first for s in streams):  # every member on one worker: no regrouping
            request(first)[1] = _steps_bytes(act, rows)
            return
        for stream in set(streams):
            idx = [i for i, s in enumerate(streams) if s is stream]
            request(stream)[1] = _steps_bytes([act[i] for i in idx], rows[idx])

    def recv(self) -> VectorResult:
        """Every response in flight, merged (blocks until each worker answered all it was sent).

        Returns:
            The merged VectorResult: observations and joined by member, and errors.

        Raises:
            RuntimeError: Nothing is in flight.
            grpc.RpcError: A worker ended its stream with that status.
            EOFError: A worker ended its stream without an error.
        """
        if not self.in_flight:
            raise RuntimeError("recv() without a send() in flight")
        result = VectorResult()
        for response in self._loop.run_until_complete(_read_all(self._loop, list(self._streams.values()))):
            result.merge(response)
        return result

    def recv_any(self) -> VectorResult:
        """The first response to arrive, from whichever worker (the others keep theirs for later).

        Returns:
            That one response, as a VectorResult.

        Raises:
            RuntimeError, grpc.RpcError, EOFError: As recv().
        """
        if not self.in_flight:
            raise RuntimeError("recv_any() without a send() in flight")
        result = VectorResult()
        result.merge(self._loop.run_until_complete(_read_first(self._loop, list(self._streams.values()))))
        return result

    @property
    def in_flight(self) -> int:
        """Responses still to come."""
        return sum(s.pending for s in self._streams.values())

    def close(self) -> None:
        """Cancels every stream (their members' slots leave) and closes their channels."""
        for stream in self._streams.values():
            self._loop.run_until_complete(stream.close())
        self._streams.clear()
        self._stream_of.clear()


async def _started() -> None:
    """One turn of the loop: new write tasks issue their messages to gRPC's core."""


async def _read_all(loop, streams: list[_WorkerStream]) -> list[apb.VectorResponse]:
    out = []
    for stream in streams:
        while stream.pending:
            out.append(await stream.next_response(loop))
            stream.took()
    return out


async def _read_first(loop, streams: list[_WorkerStream]) -> apb.VectorResponse:
    reads = {stream.next_response(loop): stream for stream in streams if stream.pending}
    done, _ = await asyncio.wait(reads, return_when=asyncio.FIRST_COMPLETED)
    read = next(iter(done))
    reads[read].took()
    return read.result()


_LOOP: asyncio.AbstractEventLoop | None = None


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The one event loop of this process's VectorPlays: grpc.aio binds its completion queue to
    the first loop it runs on, so a second loop (after the first closed) would break it.

    asyncio's own loop, not uvloop: each step is a run_until_complete() on the main thread,
    where uvloop makes and closes a socket pair for its signal wake-up on every run (25 us
    against asyncio's 7 us for an empty one, on a 2-core VM). End to end at M = 8 the noise
    hides the difference (bench harness: asyncio ahead in 5 of 9 interleaved pairs), and the
    client then needs no uvloop."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP
