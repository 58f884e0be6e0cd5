"""gametap.v1.AgentService.PlayMany: many members, each one match's agent slots, on one stream.

A vector env steps many matches at once. Over Play that costs one gRPC round trip per match
per step, and a round trip costs more CPU than the game's frame; here one request carries
the actions of every member it names and one response their next observations, so the
transport's cost is shared by all the matches a worker runs.

Every request gets exactly one response, in order, sent when each member it named (acted
or joined) has its next observation. Requests are read as they come, so a client may have
several in flight for different members: the games of one batch run while the client
thinks about another (asynchronous stepping). A member's failure (a refused join, bad
actions, rows that do not fit the members named, a match that ended) is a MemberError in
the response; the stream goes on. Only a request that does not decode, or that has actions
for no member, ends the stream.
Members are LOCKSTEP matches of this worker; their sessions are ordinary AgentSessions
whose outbox is this stream.
"""
from __future__ import annotations

import array
import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

import grpc

from gametap import wire
from gametap.core.errors import FailedPrecondition, GametapError, InvalidArgument, NotFound
from gametap.rpc.status import code_for, parse_request
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.worker.manager import MatchManager

log = logging.getLogger(__name__)

METHOD = "PlayMany"
MAX_MEMBERS = 256
ROW_BYTES = apb.ACTION_ROW_SIZE * 4
_MEMBERS = wire.field_number(apb.VectorResponse, "members")
_JOINED = wire.field_number(apb.VectorResponse, "joined")
_ACTIONS = wire.field_number(apb.VectorRequest, "actions")
_ERRORS = wire.field_number(apb.VectorResponse, "errors")
# The hot path's observations are serialized PlayResponse{observation}: the same field number
# and wire type as VectorResponse.observations, so each one already is an entry of that field.
assert wire.field_number(apb.VectorResponse, "observations") == wire.field_number(apb.PlayResponse, "observation")


@dataclass(eq=False)
class Reply:
    """One request's response, gathered as its members' observations arrive."""
    order: list[int]                                   # members whose observations it carries
    observations: dict[int, bytes] = field(default_factory=dict)
    joined: list[apb.MemberJoined] = field(default_factory=list)
    errors: list[apb.MemberError] = field(default_factory=list)
    waiting: int = 0
    done: bool = False
    on_done: object = None  # called once, when it is complete

    def fail(self, member: int, error: GametapError) -> None:
        self.errors.append(apb.MemberError(member=member, code=code_for(error).value[0], message=str(error)))
        if member in self.order:
            self.order.remove(member)

    def check(self) -> None:
        if self.waiting <= 0 and not self.done:
            self.done = True
            self.on_done()

    def serialize(self) -> bytes:
        parts = [wire.packed_varints(_MEMBERS, self.order)]
        parts += [self.observations[m] for m in self.order]
        parts += [wire.bytes_field(_JOINED, j.SerializeToString()) for j in self.joined]
        parts += [wire.bytes_field(_ERRORS, e.SerializeToString()) for e in self.errors]
        return b"".join(parts)


class Member:
    """A member's session and the reply waiting for its next observation (the session's outbox)."""

    def __init__(self, key: int, match):
        self.key = key
        self.match = match
        self.session = None
        self.reply: Reply | None = None
        self.unread: bytes | None = None   # an observation no request waited for (the match's end)
        self.row_clients: list[int] = []   # the clients its action rows are for (the joined slots)
        self.gone = False                  # its session closed

    # the AgentSession outbox interface
    def put(self, item: bytes | None) -> None:
        if item is None:
            self.gone = True
            if self.reply is not None:  # no observation will come
                reply, self.reply = self.reply, None
                reply.fail(self.key, FailedPrecondition(f"match {self.match.id} ended"))
                reply.waiting -= 1
                reply.check()
            return
        if self.reply is None:
            self.unread = item
            return
        reply, self.reply = self.reply, None
        reply.observations[self.key] = item
        reply.waiting -= 1
        reply.check()

    def qsize(self) -> int:
        return 0  # LOCKSTEP only: observations never queue up

    def expect(self, reply: Reply) -> None:
        """The member's next observation goes into this reply."""
        if self.unread is not None:
            reply.observations[self.key], self.unread = self.unread, None
            return
        self.reply = reply
        reply.waiting += 1

    def rows_for_slots(self, rows: bytes) -> bytes:
        """Its rows as the session's slots are now (a slot that left drops out)."""
        clients = [s.client for s in self.session.slots]
        if clients == self.row_clients:
            return rows
        return b"".join(rows[i * ROW_BYTES:(i + 1) * ROW_BYTES] for i, c in enumerate(self.row_clients)
                        if c in clients)


class VectorStream:
    """One PlayMany stream: its members and the replies in flight."""

    def __init__(self, manager: MatchManager):
        self.manager = manager
        self.members: dict[int, Member] = {}
        self.replies: deque[Reply] = deque()
        self._wakeup: asyncio.Future | None = None
        self._loop = asyncio.get_running_loop()

    def wake(self) -> None:
        """Something the writer waits for happened: a reply is complete, or the reading ended."""
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def changed(self) -> None:
        self._wakeup = self._loop.create_future()
        await self._wakeup

    def handle(self, data: bytes) -> Reply:
        req = parse_request(apb.VectorRequest, data)
        reply = Reply(order=list(req.act), on_done=self.wake)
        reply.waiting = 1  # held until the request is handled
        for key in req.leaves:
            self._leave(key, reply)
        self._act(req, data, reply)
        for join in req.joins:
            self._join(join, reply)
        reply.waiting -= 1
        reply.check()
        return reply

    def _leave(self, key: int, reply: Reply) -> None:
        member = self.members.pop(key, None)
        if member is None:
            reply.fail(key, InvalidArgument("leaves", f"member {key} is not on this stream"))
        elif member.session is not None:
            member.match.agents.close_session(member.session)

    def _act(self, req: apb.VectorRequest, data: bytes, reply: Reply) -> None:
        if not req.act:
            if req.actions or req.action_rows:
                raise InvalidArgument("act", "actions or action_rows for no member (name them in act)")
            return
        rows = array.array("f", req.action_rows).tobytes() if req.action_rows else b""
        misfit = self._misfit(req, len(rows))
        if misfit is not None:  # no member's part can be told apart: each one fails, none acts
            for key in req.act:
                reply.fail(key, misfit)
            return
        batches = wire.split_repeated(data, _ACTIONS) if req.actions else None  # as the client sent them
        offset = 0
        for i, key in enumerate(req.act):
            member = self.members.get(key)
            n = len(member.row_clients) * ROW_BYTES if member is not None and rows else 0
            chunk, offset = rows[offset:offset + n], offset + n
            try:
                self._act_one(member, key, batches[i] if batches is not None else None,
                              chunk, reply)
            except GametapError as e:
                reply.fail(key, e)

    def _misfit(self, req: apb.VectorRequest, row_bytes: int) -> InvalidArgument | None:
        """Why the request's actions cannot be shared out among the members it names, if they cannot."""
        if req.actions and row_bytes:
            return InvalidArgument("actions", "give actions or action_rows, not both")
        if req.actions and len(req.actions) != len(req.act):
            return InvalidArgument("actions", f"{len(req.actions)} ActionBatches for {len(req.act)} members")
        slots = [len(m.row_clients) if (m := self.members.get(k)) is not None else 0 for k in req.act]
        want = sum(slots) * apb.ACTION_ROW_SIZE
        if req.actions or row_bytes // 4 == want:
            return None
        if len(req.act) == 1:
            takes = f"member {req.act[0]} takes {want} ({slots[0]} slot{'s' if slots[0] != 1 else ''})"
        else:
            takes = (f"members {list(req.act)} take {want} ({apb.ACTION_ROW_SIZE} per slot: "
                     + ", ".join(f"member {k} {n}" for k, n in zip(req.act, slots)) + ")")
        return InvalidArgument("action_rows", f"{row_bytes // 4} values; {takes}; no member of the request acted")

    @staticmethod
    def _act_one(member: Member | None, key: int, batch: bytes | None, rows: bytes, reply: Reply) -> None:
        if member is None:
            raise InvalidArgument("act", f"member {key} is not on this stream")
        if member.reply is not None:
            raise FailedPrecondition(f"member {key} has a step in flight already")
        if member.unread is not None or member.gone:  # its match ended: nothing to act on
            if member.unread is None:
                raise FailedPrecondition(f"member {key}'s match {member.match.id} has ended")
            member.expect(reply)
            return
        agents = member.match.agents
        if batch is not None:
            agents.on_actions(member.session, batch, exact=True)  # one step in flight: no late answer can come
        else:
            agents.on_action_rows(member.session, member.rows_for_slots(rows))
        member.expect(reply)  # after the act: an observation it made at once (the match ended) is unread

    def _join(self, mj: apb.MemberJoin, reply: Reply) -> None:
        key = mj.member
        try:
            if key in self.members:
                raise InvalidArgument("joins", f"member {key} is on this stream already")
            if len(self.members) >= MAX_MEMBERS:
                raise InvalidArgument("joins", f"a stream carries at most {MAX_MEMBERS} members")
            match = self._local_match(mj.join.match_id)
            member = Member(key, match)
            member.session = match.agents.join(mj.join, outbox=member)
        except GametapError as e:
            reply.fail(key, e)
            return
        self.members[key] = member
        reply.order.append(key)
        reply.waiting += 1  # until it has joined and then observed
        asyncio.get_running_loop().create_task(self._await_joined(member, reply))

    def _local_match(self, match_id: str):
        try:
            match = self.manager.get(match_id)
        except NotFound:
            raise NotFound(f"match {match_id[:64]!r} is not run by this worker (see Match.placement)") from None
        if match.config.clock != mpb.LOCKSTEP:
            raise FailedPrecondition(f"match {match_id} is REALTIME; PlayMany steps LOCKSTEP matches (use Play)")
        return match

    async def _await_joined(self, member: Member, reply: Reply) -> None:
        session, match = member.session, member.match
        try:
            clients = await match.agents.wait_joined(session)
        except GametapError as error:
            if self.members.get(member.key) is member:
                del self.members[member.key]
                match.agents.close_session(session)
            reply.fail(member.key, error)
            reply.waiting -= 1
            reply.check()
            return
        member.row_clients = list(clients)
        reply.joined.append(apb.MemberJoined(member=member.key, joined=session.joined_proto(
            match.id, match.config.clock, match.game.feature_size)))
        member.expect(reply)  # its first observation
        reply.waiting -= 1
        reply.check()

    def close(self) -> None:
        for member in self.members.values():
            if member.session is not None:
                member.match.agents.close_session(member.session)
        self.members.clear()


async def play_many(manager: MatchManager, requests, context):
    """The handler: requests are read and handled as they come; replies go out in order."""
    stream = VectorStream(manager)
    error: list[GametapError] = []
    reader = asyncio.get_running_loop().create_task(_read(stream, aiter(requests), error))
    reader.add_done_callback(lambda _: stream.wake())
    try:
        while not error:
            replies = stream.replies
            if replies and replies[0].done:
                yield replies.popleft().serialize()
            elif reader.done() and not any(r.waiting for r in replies):
                break  # the client is done (or gone) and nothing is on its way
            else:
                await stream.changed()
    finally:
        reader.cancel()
        stream.close()
    if error:
        await context.abort(code_for(error[0]), str(error[0]))


async def _read(stream: VectorStream, requests, error: list) -> None:
    try:
        async for data in requests:
            stream.replies.append(stream.handle(data))
            stream.wake()
    except GametapError as e:
        error.append(e)
    except grpc.RpcError:
        pass  # the client went away
