"""AgentHost: a match's agents — joining, leaving, observations, and the LOCKSTEP gate.

LOCKSTEP: the game runs frames up to `run_until`, then says WAITING(frame). At
such a pause every stream due to observe gets its observation and the game
goes on when all of them acted (or their action_timeout passed: their last
actions repeat, counted in action_timeouts). Then run_until becomes the next
frame some stream must observe. With no agents the game runs free.
REALTIME: nothing waits; each stream gets an observation every frames_per_step
frames and its actions apply at once.

Joining: each slot's player is asked for by name (an addbot) and claimed when it appears
(gametap.worker.agents.claims); a join waits until the players this host kicked are gone, so a new
player never takes a kicked one's client number unseen.

hold_for_agents (LOCKSTEP): the game steps frame by frame until its bots are
in, then waits until that many agent slots have asked to join, adds them all
at once and steps until they are in, so agents join at the same frame in
every run of the same config and seed.
"""
from __future__ import annotations

import asyncio
import logging
import time

from gametap.core.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, Unavailable
from gametap.core.game import Slot
from gametap.recordings import recording
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import recording_pb2 as rpb
from gametap.worker.agents.claims import Claims
from gametap.worker.agents.session import AgentSession, wants_features, wants_world
from gametap.worker.link.protocol import RUN_FREE, release_record

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 30.0  # how long a join waits for the game to add its players
LEAVE_WAIT_S = 2.0  # how long a join waits for the players kicked before it to be gone
CLAIM_WAIT_S = 2 * JOIN_TIMEOUT_S  # how long a slot's request for a player stays open (past its join's end)


def _check_active(session: AgentSession) -> None:
    if not session.active:
        raise FailedPrecondition("this stream has no slot in the game yet" if session.slots
                                 else "this stream has left all its slots")


class AgentHost:
    def __init__(self, match):
        self.match = match
        self.world = match.world
        self.game = match.game
        config = match.config
        self.lockstep = config.clock == mpb.LOCKSTEP
        self.holding = self.lockstep and config.hold_for_agents > 0
        self.sessions: list[AgentSession] = []
        self.joining: list[AgentSession] = []     # addbots sent; waiting for the players to appear
        self.gathered: list[AgentSession] = []    # holding: asked to join, addbots not sent yet
        self.run_until = 0 if self.holding else RUN_FREE
        self.waiting: int | None = None           # LOCKSTEP: the game finished this frame and waits
        self.action_timeouts = 0
        self._timer: asyncio.TimerHandle | None = None  # the watchdog of action timeouts
        self._agent_wait: asyncio.TimerHandle | None = None  # agent_wait_s: ends a match no agent joined
        self._pause: tuple[int, float] | None = None  # (frame, deadline) of the step being waited for
        self._pending_records: list[bytes] = []  # action records for the next CONTROL
        self._loop = asyncio.get_running_loop()  # once: asking for it costs a system call (getpid)
        self._players_left = 0  # world.players_left when the agents' slots were last checked
        self._game_us = 0  # wall time the game ran for the last step
        self._had_agents = False  # a stream has joined (end_when_agents_leave waits for one)
        # Clients we kicked, until the world shows them gone (or LEAVE_WAIT_S passes), and the
        # joins that wait for that: a new player added in the kick's frame would take the freed
        # client number while the old player still seems present, and never be claimed.
        self._leaving: dict[int, float] = {}
        self._deferred: list[AgentSession] = []
        self.claims = Claims()  # which new player is which slot's
        self._streams = 0  # streams that asked to join (their recording numbers)

    def on_running(self) -> None:
        """The match runs: if it may wait only so long for its first agent, start counting."""
        config = self.match.config
        if config.end_when_agents_leave and config.agent_wait_s:
            self._agent_wait = self._loop.call_later(config.agent_wait_s, self._check_agents_came)

    def _check_agents_came(self) -> None:
        if not self._had_agents and not self.sessions and not self.match.is_ended:
            log.info("match %s: no agent joined within %d s; ending it (agent_wait_s)",
                     self.match.id, self.match.config.agent_wait_s)
            self.match.end_soon()

    @property
    def agent_clients(self) -> list[int]:
        return sorted(c for s in self.sessions for c in s.clients)

    # ---- joining and leaving ----

    def join(self, req: apb.JoinRequest, outbox=None) -> AgentSession:
        """Validates and starts a join; await session.joined for the client numbers.
        outbox: where the session's observations go (default: a queue of its own)."""
        if self.match.is_ended:
            raise FailedPrecondition(f"match {self.match.id} is {mpb.MatchStatus.Name(self.match.status)}")
        slots = self.game.validate_join(req, self.match.config)
        bots = len(self.match.config.bots)  # the configured bots count even before they are in
        agents = sum(len(s.slots) for s in self.sessions if s.active)
        coming = sum(len(s.slots) for s in self.joining + self.gathered + self._deferred)
        taken = max(len(self.world.players()), bots + agents) + coming
        limit = self.game.max_players
        if taken + len(slots) > limit:
            raise ResourceExhausted(f"the match is full: {taken} of {limit} player slots are taken")
        driven = bots + agents + coming
        if driven + len(slots) > self.game.max_bot_players:
            raise ResourceExhausted(f"the game module runs at most {self.game.max_bot_players} bots and agents' players "
                                    f"in a match; {driven} are taken")
        frames_per_step = max(1, req.frames_per_step)
        observer = self.world.observer(frames_per_step, wants_world(req.observation), wants_features(req.observation))
        session = AgentSession(slots, frames_per_step, (req.action_timeout_ms or 1000) / 1000,
                               realtime=not self.lockstep, observer=observer,
                               observation=req.observation or apb.WORLD, **({"outbox": outbox} if outbox else {}))
        self.match.limits.play.acquire(self.match.id)
        session.counted = True  # in the worker's play streams until close_session
        self._streams += 1
        session.stream, session.request = self._streams, req
        held = self.holding or (self.lockstep and self.waiting is not None)
        session.asked = (self.world.frame, held, self.holding)
        self.sessions.append(session)
        if self.holding:
            self.gathered.append(session)
            self._step()
        else:
            self._add_players(session)
        return session

    async def wait_joined(self, session: AgentSession) -> list[int]:
        """The session's client numbers once its players are in; Unavailable after JOIN_TIMEOUT_S
        (a held LOCKSTEP match waits for every agent it holds for: no time limit then)."""
        timeout = None if self.holding else JOIN_TIMEOUT_S
        try:
            return await asyncio.wait_for(asyncio.shield(session.joined), timeout)
        except TimeoutError:
            raise Unavailable(f"the game did not add the players within {JOIN_TIMEOUT_S:.0f} s") from None

    def _add_players(self, session: AgentSession) -> None:
        if self._leaving:
            self._deferred.append(session)  # after the players we kicked are gone
            return
        present, until = [c for c, _, _ in self.world.players()], self._loop.time() + CLAIM_WAIT_S
        self.joining.append(session)
        for slot in session.slots:
            self.claims.ask(slot, present, until)
            self.match.link.send_command(slot.addbot_command)

    def _kick(self, client: int) -> None:
        self.match.link.send_command(self.game.kick_command(client))
        self._leaving[client] = self._loop.time() + LEAVE_WAIT_S

    def _forget_gone(self) -> None:
        """Kicked players that are gone now; once all are, the joins that waited for them go on."""
        now, has_player = self._loop.time(), self.world.has_player
        for client, until in list(self._leaving.items()):
            if not has_player(client) or now > until:
                del self._leaving[client]
        if not self._leaving and self._deferred:
            deferred, self._deferred = self._deferred, []
            for session in deferred:
                self._add_players(session)

    def _claim_players(self) -> None:
        """New players go to the slots that asked for them (gametap.worker.agents.claims); a player
        whose stream went away before it came is kicked."""
        taken = {c for s in self.sessions for c in s.clients} | set(self._leaving)
        _, unwanted = self.claims.match(self.world.players(), taken, self._loop.time())
        for client in unwanted:
            log.info("match %s: kicking client %d: the stream that asked for it is gone", self.match.id, client)
            self._kick(client)
        for session in list(self.joining):
            if all(s.client >= 0 for s in session.slots):
                self.joining.remove(session)
                self._activate(session)

    def _activate(self, session: AgentSession) -> None:
        session.slots_changed()
        for slot in session.slots:
            self.world.set_agent(slot.client, True)
        records = session.observer.hold_records()  # hold still, looking where the player looks, until told otherwise
        session.active = True
        self._had_agents = True
        session.next_obs = self.world.frame + 1  # the first frame that shows the slot as an agent
        if self.lockstep:
            self.match.agents_stepping(True)
        if not session.joined.done():
            session.joined.set_result([s.client for s in session.slots])
        if self.lockstep and self.waiting is None and self.run_until == RUN_FREE:
            self.run_until = 0  # pause where the game is, to give the newcomer its first observation
        self.match.link.send_control(self.run_until, records)
        clients = [s.client for s in session.slots]
        asked_frame, held, at_hold = session.asked
        self.match.record(recording.entry(join=rpb.AgentJoinRecord(
            stream=session.stream, frame=self.world.frame, join=session.request, clients=clients,
            asked_frame=asked_frame, asked_while_held=held, at_hold=at_hold)))
        log.info("match %s: agents joined as clients %s", self.match.id, clients)

    def leave(self, session: AgentSession, clients: list[int] | None = None) -> None:
        """Gives slots back: their players leave the game."""
        mine = session.clients
        unknown = set(clients or ()) - mine
        if unknown:
            raise InvalidArgument("clients", f"{sorted(unknown)} are not this stream's slots {sorted(mine)}")
        gone = [s for s in session.slots if s.client >= 0 and (not clients or s.client in clients)]
        if gone:
            self.match.record(recording.entry(leave=rpb.AgentLeaveRecord(
                stream=session.stream, frame=self.world.frame, clients=[s.client for s in gone])))
        for slot in gone:
            self._free(slot)
        session.slots = [s for s in session.slots if s not in gone]
        session.slots_changed()
        if not session.slots:
            session.active = False
        self._step()

    def _free(self, slot: Slot) -> None:
        self.world.set_agent(slot.client, False)
        if not self.match.is_ended:
            self.match.link.send_control(self.run_until, release_record(slot.client))
            self._kick(slot.client)
        slot.client = -1

    def close_session(self, session: AgentSession) -> None:
        """The stream ended: its slots leave."""
        if session.counted:
            session.counted = False
            self.match.limits.play.release(self.match.id)
        if session in self.gathered:
            self.gathered.remove(session)
        if session in self.joining:
            self.joining.remove(session)
            self.claims.withdraw(s for s in session.slots if s.client < 0)
        if session in self._deferred:
            self._deferred.remove(session)
        if session in self.sessions:
            self.leave(session)
            self.sessions.remove(session)
        session.close()
        if not any(s.active for s in self.sessions):
            self.match.agents_stepping(False)
        if not self.sessions and self._had_agents and self.match.config.end_when_agents_leave:
            log.info("match %s: its last agent stream is gone; ending it (end_when_agents_leave)", self.match.id)
            self.match.end_soon()
            return
        self._step()

    # ---- the game's side ----

    def on_frames(self) -> None:
        """New frames were applied to the world (the hot path keeps the views' events, teachers, visibility)."""
        if self._leaving:
            self._forget_gone()
        if self.claims.pending:
            self._claim_players()
        if not self.sessions:
            return
        if self.world.players_left != self._players_left:  # somebody left: was it one of ours?
            self._players_left = self.world.players_left
            self._notice_lost_players()
        if not self.lockstep:
            frame = self.world.frame
            for session in self.sessions:
                if session.due(frame):
                    self._observe(session)

    def _notice_lost_players(self) -> None:
        has_player = self.world.has_player
        for session in self.sessions:
            if not session.active:
                continue
            lost = [s for s in session.slots if s.client >= 0 and not has_player(s.client)]
            for slot in lost:  # kicked from the console, or the game dropped it
                self.world.set_agent(slot.client, False)
                session.left.append(slot.client)
                session.slots.remove(slot)
            if lost:
                session.slots_changed()

    def on_waiting(self, frame: int, busy_us: int = 0) -> None:
        self.waiting = frame
        self._game_us = busy_us
        self._step()

    def _observe(self, session: AgentSession, final: bool = False) -> None:
        if session.observe(self.world.frame, final, self._game_us) and session.acted_at:
            self.match.metrics.agent_step_seconds.observe(session.observed_at - session.acted_at)
            session.acted_at = 0.0

    # ---- the LOCKSTEP gate ----

    def _step(self) -> None:
        """Decides what the waiting game does next."""
        if not self.lockstep or self.waiting is None or self.match.is_ended:
            return
        frame = self.waiting
        if self.holding:
            self._hold_step()
            return
        for s in self.sessions:
            if s.due(frame) and s.last_obs != frame:
                self._observe(s)
        awaiting = self._awaiting(frame)
        if awaiting:
            if self._pause is None or self._pause[0] != frame:
                self._pause = (frame, self._loop.time() + min(s.timeout_s for s in awaiting))
                if self._timer is None:  # one watchdog, re-armed lazily: no timer per step
                    self._timer = self._loop.call_at(self._pause[1], self._watchdog)
            return
        self._release()

    def _awaiting(self, frame: int) -> list[AgentSession]:
        """Streams that observed this frame and have not answered yet."""
        return [s for s in self.sessions if s.active and not s.closed and s.last_obs == frame and not s.acted]

    def _hold_step(self) -> None:
        bots_in = sum(1 for _, _, is_bot in self.world.players() if is_bot)
        if bots_in < len(self.match.config.bots):
            self._release(self.waiting + 1)  # still booting: one frame at a time
            return
        if sum(len(s.slots) for s in self.gathered) < self.match.config.hold_for_agents:
            return  # wait for more agents
        self.holding = False
        gathered = sorted(self.gathered, key=lambda s: [slot.name for slot in s.slots])
        self.gathered.clear()
        for session in gathered:
            self._add_players(session)
        self._release(self.waiting + 1)

    def _watchdog(self) -> None:
        self._timer = None
        if self._pause is None or self.waiting != self._pause[0]:
            return  # that step went on in time
        frame, deadline = self._pause
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._watchdog)
            return
        for s in self._awaiting(frame):
            s.acted = True  # its last actions hold for this step
            self.action_timeouts += 1
        self._pause = None
        self._step()

    def _release(self, run_until: int | None = None) -> None:
        self._pause = None
        if run_until is None:
            active = [s.next_obs for s in self.sessions if s.active and not s.closed]
            if self.joining or self._deferred:
                run_until = self.waiting + 1  # step until the newcomers are in
            elif active:
                run_until = max(self.waiting + 1, min(active))
            else:
                run_until = RUN_FREE
        self.run_until = run_until
        self.waiting = None
        self.match.link.send_control(run_until, b"".join(self._pending_records))
        self._pending_records = []

    # ---- the agents' side ----

    def on_actions(self, session: AgentSession, batch: bytes, exact: bool = False) -> None:
        """batch: a serialized ActionBatch, checked and turned into CONTROL records by the hot path.
        A frame past the last observation is an error; an earlier one is a late answer, ignored
        (its step went on without it), unless `exact`: then it must answer the last one."""
        _check_active(session)
        try:
            frame, records = session.observer.actions(batch)
        except ValueError as e:  # the hot path's InvalidField(field, message)
            raise InvalidArgument(*e.args) from None
        last = session.last_obs
        if last is None or frame > last:
            raise InvalidArgument("frame", f"action for frame {frame}, but the last observation was frame {last}")
        if exact and frame != last:
            raise InvalidArgument("frame", f"action for frame {frame}, but the observation it answers is frame {last}")
        if self._accept(session, frame, records):
            self.match.record(recording.step_entry(session.stream, frame, actions=batch))

    def on_action_rows(self, session: AgentSession, rows: bytes) -> None:
        """rows: flat float32 actions (VectorRequest.action_rows), answering the last observation."""
        _check_active(session)
        try:
            records = session.observer.action_rows(rows)
        except ValueError as e:
            raise InvalidArgument(*e.args) from None
        if self._accept(session, session.last_obs, records):
            self.match.record(recording.step_entry(session.stream, session.last_obs or 0, action_rows=rows))

    def _accept(self, session: AgentSession, frame: int | None, records: bytes) -> bool:
        """Whether the actions were taken (they are recorded then)."""
        now = time.perf_counter()
        if not self._take(session, frame, records):
            return False
        if session.observed_at:  # an answer to an observation it was sent
            self.match.metrics.agent_think_seconds.observe(now - session.observed_at)
        session.acted_at = now
        return True

    def _take(self, session: AgentSession, frame: int | None, records: bytes) -> bool:
        if not self.lockstep:
            self.match.link.send_control(RUN_FREE, records)
            return True
        if frame is None or frame < session.last_obs or session.acted:
            return False  # its step went on without it (the timeout was counted): ignore
        self._pending_records.append(records)
        session.acted = True
        self._step()
        return True

    # ---- the end ----

    def release_for_stop(self) -> None:
        """Lets a waiting game run, so that it can obey a quit."""
        self.holding = False
        if self.lockstep and self.run_until != RUN_FREE:
            self.run_until = RUN_FREE
            self.waiting = None
            self.match.link.send_control(RUN_FREE)

    def close(self) -> None:
        """The match ended: every stream gets a final observation, then its end."""
        for timer in (self._timer, self._agent_wait):  # a pending timer holds the ended match in memory
            if timer is not None:
                timer.cancel()
        for session in self.sessions:  # joining and gathered sessions are in it too
            if session.active:
                self._observe(session, final=True)
            elif not session.joined.done():
                session.joined.set_exception(FailedPrecondition(
                    f"match {self.match.id} ended ({mpb.MatchStatus.Name(self.match.status)}) before the slots joined"))
            session.close()
        self.match.agents_stepping(False)
