"""Re-running a recorded LOCKSTEP match and checking that it comes out the same.

The recording holds the match's config and seed, each agent stream's join, and every action
batch (or PlayMany action rows) each stream sent, at the frame of the observation it
answered. `reproduce` creates a match with that config, joins one PlayMany stream per
recorded stream and answers each of its observations with the recorded actions for that
frame (an empty batch where the original step timed out: the last actions stood, as they
do now), leaves where the stream left, and runs to the recorded last frame. Then it
compares the two recordings (gametap.recordings.diff).

What it can replay: joins that the game was held for (hold_for_agents, as the envs use);
whole streams leaving at an observation. A join asked while the game ran free landed at a
frame that depended on timing, and is refused up front, as are a REALTIME match, a stream
that left only some of its slots, and a damaged recording (gametap.recordings.recording_scan: one with
no header, a corrupt record, a header field of the wrong type). A recording that stops at a
torn last record (its match was killed) replays to there.
"""
from __future__ import annotations

import array
import logging
import queue
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from gametap.core.errors import FailedPrecondition
from gametap.recordings.diff import Diff, diff_recordings
from gametap.recordings.recording import iter_entries
from gametap.recordings.recording_scan import scan
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import agent_pb2_grpc
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import recording_pb2 as rpb

log = logging.getLogger(__name__)
_CLOSE = object()
WAIT_S = 600.0  # a generous bound on the reproduction: it only catches hangs


@dataclass
class RecordedStream:
    join: rpb.AgentJoinRecord
    steps: dict[int, rpb.AgentStepRecord] = field(default_factory=dict)  # by the frame answered
    leave_frame: int | None = None


@dataclass
class Reproduction:
    original: str
    reproduction: str  # the new match's id
    diff: Diff  # it names what differs in the two recordings' provenance, if they differ

    @property
    def identical(self) -> bool:
        return self.diff.identical

    def summary(self) -> str:
        return f"match {self.reproduction} reproducing {self.original}: {self.diff.summary()}"


def plan(path: Path) -> tuple[mpb.MatchConfig, list[RecordedStream]]:
    """The config to run and the streams to replay; FailedPrecondition when it cannot be replayed."""
    s = scan(path)
    if s.damage:  # its config and seed, or the actions after the damage, are not what was recorded
        raise FailedPrecondition(f"the recording is damaged ({s.damage}): it cannot be reproduced")
    config = mpb.MatchConfig()
    config.CopyFrom(s.config)
    if config.clock != mpb.LOCKSTEP:
        raise FailedPrecondition("only a LOCKSTEP match can be reproduced (a REALTIME one followed the wall clock)")
    if s.version < 2:
        raise FailedPrecondition("the recording is of format 1, which holds no agents' actions")
    streams = _streams(path)
    for st in streams.values():
        if not st.join.asked_while_held:
            raise FailedPrecondition(
                f"agent stream {st.join.stream} asked to join at frame {st.join.asked_frame} while the game ran "
                f"free: the frame its players came in at depended on timing")
    if not config.max_frames or s.last_frame < config.max_frames:
        config.max_frames = s.last_frame  # it was stopped there (or the recording ends there)
    # How long a match ran on after its last agent left, until the stop reached it, was timing;
    # what it did then was not: run those frames too.
    config.end_when_agents_leave = False
    return config, list(streams.values())


def _streams(path: Path) -> dict[int, RecordedStream]:
    streams: dict[int, RecordedStream] = {}
    for e in iter_entries(path):
        kind = e.WhichOneof("kind")
        if kind == "join":
            streams[e.join.stream] = RecordedStream(join=e.join)
        elif kind == "step" and e.step.stream in streams:
            streams[e.step.stream].steps[e.step.frame] = e.step
        elif kind == "leave" and e.leave.stream in streams:
            st = streams[e.leave.stream]
            if set(e.leave.clients) != set(st.join.clients):
                raise FailedPrecondition(f"agent stream {st.join.stream} left only some of its slots "
                                         f"({list(e.leave.clients)} of {list(st.join.clients)})")
            st.leave_frame = e.leave.frame
    return streams


def reproduce(client, match_id: str, workdir: Path | None = None) -> Reproduction:
    """Re-runs a recorded match on the daemon `client` talks to and compares the two recordings."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        original = client.download_recording(match_id, Path(tmp) / "original.gtrec")
        config, streams = plan(original)
        match = client.create_match(config)
        log.info("reproducing %s as %s: %d agent streams, to frame %d", match_id, match.id, len(streams),
                 config.max_frames)
        players = [_StreamPlayer(client, match.id, st) for st in streams]
        for p in players:
            p.start()
        for p in players:
            p.finish()
        client.wait_ended(match.id, WAIT_S, what="reproduction")
        again = client.download_recording(match.id, Path(tmp) / "reproduction.gtrec")
        return Reproduction(original=match_id, reproduction=match.id, diff=diff_recordings(original, again))


class _StreamPlayer:
    """One recorded stream, replayed on a PlayMany stream of its own (member 1)."""

    def __init__(self, client, match_id: str, recorded: RecordedStream):
        self.recorded = recorded
        join = apb.JoinRequest()
        join.CopyFrom(recorded.join.join)
        join.match_id = match_id
        self._join = join
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._channel = client.data_channel(match_id)
        self._thread = threading.Thread(target=self._run, name=f"reproduce-stream-{recorded.join.stream}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._thread.join(WAIT_S)
        if self._thread.is_alive():
            raise TimeoutError(f"agent stream {self.recorded.join.stream} did not finish within {WAIT_S:.0f} s")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._play()
        except BaseException as e:  # noqa: BLE001 - handed to finish()
            self.error = e

    def _play(self) -> None:
        stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._requests.put(apb.VectorRequest(joins=[apb.MemberJoin(member=1, join=self._join)]))
        responses = stub.PlayMany(iter(self._requests.get, _CLOSE))
        try:
            for response in responses:
                if response.errors:
                    raise FailedPrecondition(f"agent stream {self.recorded.join.stream}: {response.errors[0].message}")
                if response.joined and list(response.joined[0].joined.clients) != list(self.recorded.join.clients):
                    raise FailedPrecondition(
                        f"agent stream {self.recorded.join.stream} got clients {list(response.joined[0].joined.clients)}, "
                        f"the original {list(self.recorded.join.clients)}: the reproduction went another way")
                obs = response.observations[0]
                if obs.final or self._answer(obs.frame):
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise
        finally:
            self._requests.put(_CLOSE)

    def _answer(self, frame: int) -> bool:
        """Sends what the stream sent after observing this frame; True when it left there."""
        if self.recorded.leave_frame is not None and frame >= self.recorded.leave_frame:
            self._requests.put(apb.VectorRequest(leaves=[1]))
            return True
        step = self.recorded.steps.get(frame)
        if step is not None and step.HasField("actions"):
            request = apb.VectorRequest(act=[1], actions=[step.actions])
        elif step is not None:
            request = apb.VectorRequest(act=[1], action_rows=array.array("f", step.action_rows).tolist())
        else:  # the original step went on without this stream's actions (a timeout): they stood
            request = apb.VectorRequest(act=[1], actions=[apb.ActionBatch(frame=frame)])
        self._requests.put(request)
        return False
