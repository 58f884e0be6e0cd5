"""A fake match's recording (gametap.recordings.recording, gametap.recordings.replay): read back frame by frame it
replays the states the match went through, says what its agent did, and the same config,
seed and actions record the same updates."""
import dataclasses

from gametap.client.world import World
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.paths import RECORDING_NAME
from gametap.recordings.recording import read_recording
from gametap.recordings.replay import final_state, frame_by_frame
from gametap.v1 import match_pb2 as mpb

from .play import Agent, ended, lockstep, run, start


def without_events(state: wpb.WorldState) -> bytes:
    """A state to compare across views: an observation every k frames carries k frames' events."""
    copy = wpb.WorldState()
    copy.CopyFrom(state)
    del copy.events[:]
    return copy.SerializeToString(deterministic=True)


def play(settings, seed: int = 7) -> dict:
    """A held match with one agent that turns as it goes, to max_frames; what the agent saw."""
    config = lockstep(bots=("Sarge", "Grism"), seed=seed, hold_for_agents=1, max_frames=300, keyframe_interval=50)

    async def main():
        _, match = await start(settings, config)
        agent = Agent(match, "a", frames_per_step=3)
        await agent.joined()
        world, seen, acted = World(), {}, []
        while (obs := await agent.observe()) is not None:
            world.apply(obs.world)
            seen[obs.frame] = without_events(world.state())
            if not obs.final:
                agent.act(forward=1.0, strafe=0.5, yaw=float(obs.frame * 7 % 360 - 180))
                acted.append(obs.frame)
        m = await ended(match)
        return {"match": m, "seen": seen, "acted": acted, "final": match.world.state(),
                "path": match.dir / RECORDING_NAME}
    return run(main())


def test_the_recording_replays_frame_by_frame_the_states_the_match_went_through(settings):
    got = play(settings)
    assert got["match"].status == mpb.FINISHED and len(got["seen"]) > 50
    replayed = {frame: without_events(w.state()) for frame, _, w in frame_by_frame(got["path"]) if frame in got["seen"]}
    assert replayed == got["seen"]
    assert final_state(got["path"]) == wpb.WorldState.FromString(got["final"]).SerializeToString(deterministic=True)


def test_the_recording_says_what_the_agent_did_and_how_the_match_ended(settings):
    got = play(settings)
    entries = read_recording(got["path"]).entries
    kinds = [e.WhichOneof("kind") for e in entries]
    assert kinds[0] == "module" and entries[0].module.build_id == "fake-1"
    joins = [e.join for e in entries if e.HasField("join")]
    assert len(joins) == 1 and joins[0].at_hold and [s.name for s in joins[0].join.slots] == ["a"]
    assert [e.step.frame for e in entries if e.HasField("step")] == got["acted"]
    end = entries[-1].end
    assert kinds[-1] == "end" and (end.status, end.frame) == (mpb.FINISHED, 300)
    assert list(end.scores) == list(got["match"].scores)


def test_the_same_seed_and_actions_record_the_same_updates(settings, tmp_path):
    first = read_recording(play(settings)["path"]).updates
    again = read_recording(play(dataclasses.replace(settings, state_dir=tmp_path / "again"))["path"]).updates
    other = read_recording(play(dataclasses.replace(settings, state_dir=tmp_path / "other"), seed=8)["path"]).updates
    assert first == again
    assert first != other
