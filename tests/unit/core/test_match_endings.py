"""Every way a match ends (gametap.worker.match), with the status and reason it ends with."""
import asyncio
import os
import signal

import pytest

from gametap.games.fake.game import FakeGame
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import read_recording
from gametap.v1 import match_pb2 as mpb
from gametap.worker.manager import MatchManager

from .play import Agent, ended, lockstep, realtime, run, start, until


def end_of(settings, config: mpb.MatchConfig, then=None) -> tuple[mpb.Match, wpb.WorldState]:
    """Runs a match to its end (then(match): what the test does to it while it runs)."""
    async def main():
        _, match = await start(settings, config)
        await until(lambda: match.status == mpb.RUNNING, what="the match to run")
        if then is not None:
            await then(match)
        return await ended(match), wpb.WorldState.FromString(match.world.state())
    return run(main())


def test_max_frames_finishes_the_match_at_that_frame(settings):
    m, state = end_of(settings, lockstep(max_frames=300))
    assert (m.status, m.frame, state.frame) == (mpb.FINISHED, 300, 300)
    end = read_recording(settings.state_dir / "matches" / m.id / "updates.gtrec").end
    assert (end.status, end.frame) == (mpb.FINISHED, 300)


def test_the_frag_limit_finishes_the_match_with_the_final_scores(settings):
    m, state = end_of(settings, lockstep(bots=("Sarge", "Grism"), frag_limit=3))
    assert m.status == mpb.FINISHED and not m.failure
    assert max(s.score for s in m.scores) == 3 and m.scores[0].score == 3  # best first
    assert state.match.phase == wpb.MATCH_PHASE_INTERMISSION
    assert state.level_time_ms < 300_000  # the frag limit ended it, not a time


def test_the_time_limit_finishes_the_match(settings):
    m, state = end_of(settings, lockstep(time_limit_s=60, server_fps=20))
    assert m.status == mpb.FINISHED
    assert 60_000 <= state.level_time_ms < 61_000 and state.match.phase == wpb.MATCH_PHASE_INTERMISSION


def test_a_limit_set_from_the_console_ends_the_match(settings):
    async def lower_the_limit(match):
        await match.run_command("fraglimit 1")
    m, state = end_of(settings, lockstep(frag_limit=1000), lower_the_limit)
    assert m.status == mpb.FINISHED and state.match.frag_limit == 1
    assert state.match.phase == wpb.MATCH_PHASE_INTERMISSION


@pytest.mark.parametrize("config", [lockstep(), realtime()], ids=["lockstep", "realtime"])
def test_a_stopped_match_is_stopped(settings, config):
    async def stop(match):
        await match.stop()
    m, _ = end_of(settings, config, stop)
    assert m.status == mpb.STOPPED and not m.failure and m.frame > 0


def test_a_killed_game_fails_its_match(settings):
    async def kill(match):
        os.kill(match.process.pid, signal.SIGKILL)
    m, _ = end_of(settings, realtime(), kill)
    assert m.status == mpb.FAILED and m.failure == "the game was killed by SIGKILL"


def test_a_game_that_exits_with_an_error_fails_its_match_with_its_last_words(settings):
    async def error(match):
        match.link.send_command("error the map is broken")
    m, _ = end_of(settings, lockstep(), error)
    assert m.status == mpb.FAILED and m.failure == "the game exited with code 1"
    assert "ERROR: the map is broken" in m.log_tail


def test_a_game_that_stops_running_frames_fails_as_stalled(settings):
    async def freeze(match):
        match.link.send_command("killserver")
    m, _ = end_of(settings, realtime(), freeze)
    assert m.status == mpb.FAILED and m.failure.startswith("the game stopped running frames")
    assert "the server is killed" in m.failure  # its last words


def test_a_refused_game_module_fails_the_match_with_the_reason(settings):
    class Refusing(FakeGame):
        def check_module(self, fields):
            return f"no module like {fields['path']}"

    async def main():
        manager = MatchManager(settings)
        manager.game = Refusing()
        match = await manager.create(lockstep())
        return await ended(match)
    m = run(main())
    assert m.status == mpb.FAILED and m.failure == "no module like gametap-fake"


def test_the_last_agent_leaving_ends_an_end_when_agents_leave_match(settings):
    async def main():
        _, match = await start(settings, lockstep(end_when_agents_leave=True))
        agent = Agent(match, "a")
        await agent.joined()
        await agent.observe()
        agent.close()
        return await ended(match)
    m = run(main())
    assert m.status == mpb.STOPPED and not m.failure


def test_a_match_no_agent_joins_ends_after_agent_wait_s(settings):
    async def main():
        _, match = await start(settings, lockstep(end_when_agents_leave=True, agent_wait_s=1, hold_for_agents=1))
        loop = asyncio.get_running_loop()
        began = loop.time()
        m = await ended(match)
        return m, loop.time() - began
    m, took = run(main())
    assert m.status == mpb.STOPPED and 0.9 <= took < 5
