"""Replays and agents' debugging in the viewer (issue 9, items 6 and 7), in real headless
Chromium: archived matches are listed; the timeline scrubs to a frame whose scoreboard is the
recording's state there, and jumps to the next kill; an agent's slot shows what it sees (what
its PVS view leaves out is dimmed, exactly) and the action it sent beside its teacher's."""
from __future__ import annotations

import pytest

from gametap.client import AgentStream
from gametap.recordings.recording import MAGIC, RECORD_HEAD, UPDATE_KINDS, entry_kind
from gametap.recordings.recording_scan import scan
from gametap.recordings.replay import frame_by_frame
from gametap.testing import start_daemon, wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

pytestmark = [pytest.mark.game, pytest.mark.browser]
BOTS = [mpb.BotConfig(name=n, skill=3) for n in ("Sarge", "Grism", "Kyonshi", "Major")]


def recorded_state(path, frame: int):
    for at, _, world in frame_by_frame(path):
        if at == frame:
            return world
    raise AssertionError(f"no frame {frame} in {path}")


def kill_frames(path) -> list[int]:
    return [frame for frame, _, world in frame_by_frame(path) if any(e.HasField("kill") for e in world.events)]


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """A bot match and an agent match, run by a daemon that was then restarted: both archived."""
    state = tmp_path_factory.mktemp("replay-state")
    first = start_daemon(state, "--no-default-match")
    with first.client() as c:
        bots = c.create_match(mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=BOTS, max_frames=3000, seed=17))
        agent_match = c.create_match(mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=BOTS[:2], hold_for_agents=1, seed=18))
        spec = apb.SlotSpec(name="watched", visibility=apb.PVS, bot="Sarge")
        with AgentStream(c, agent_match.id, [spec]) as agents:
            me = agents.clients[0]
            agents.observe()
            for step in range(300):
                agents.step([apb.Action(client=me, forward=1.0, yaw=(step * 7.0) % 360 - 180, attack=step % 5 == 0)])
        c.stop_match(agent_match.id)
        wait_until(lambda: c.get_match(bots.id).status == mpb.FINISHED, 120, "the bot match to finish")
        wait_until(lambda: c.get_match(agent_match.id).status == mpb.STOPPED, 60, "the agent match to stop")
    first.stop()
    damaged = damaged_copy(first.match_dir(bots.id) / "updates.gtrec", first.match_dir(DAMAGED))
    daemon = start_daemon(state, "--no-default-match")
    yield {"daemon": daemon, "bots": bots.id, "agents": agent_match.id, "agent": me, "damaged": damaged,
           "bots_path": daemon.match_dir(bots.id) / "updates.gtrec",
           "agents_path": daemon.match_dir(agent_match.id) / "updates.gtrec"}
    daemon.stop()


DAMAGED = "dada00000001"


def damaged_copy(good, folder):
    """A copy of a recording with a byte flipped in an update record past its middle; what the
    archive's scan says of it."""
    data = bytearray(good.read_bytes())
    at = len(MAGIC)
    while True:
        length, _ = RECORD_HEAD.unpack_from(data, at)
        if at > len(data) // 2 and entry_kind(data[at + 8:at + 8 + length]) in UPDATE_KINDS:
            break
        at += RECORD_HEAD.size + length
    data[at + RECORD_HEAD.size + 3] ^= 0x7F
    folder.mkdir()
    (folder / "updates.gtrec").write_bytes(bytes(data))
    return scan(folder / "updates.gtrec")


def open_replay(page, archived, match_id: str) -> None:
    page.page.goto(f"http://{archived['daemon'].http}/#/match/{match_id}")
    page.page.wait_for_function("() => window.gametap.replay && window.gametap.replay.world.hasState", timeout=30000)


def seek(page, frame: int) -> None:
    page.page.evaluate("""(f) => { const s = document.getElementById('tl-slider');
        s.value = f; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }""", frame)
    page.page.wait_for_function("(f) => window.gametap.replay.world.frame === f", arg=frame, timeout=30000)


def test_archived_matches_are_listed_as_ended(page, archived):
    page.page.goto(f"http://{archived['daemon'].http}/")
    for match_id, status in ((archived["bots"], "finished"), (archived["agents"], "stopped")):
        row = page.page.locator(f"#match-rows tr[data-match='{match_id}']")
        row.wait_for(timeout=20000)
        assert status in row.inner_text() and "archived" in row.inner_text()
        assert row.locator(".started").inner_text() and ":" in row.locator(".duration").inner_text()
    assert "Sarge" in page.page.locator(f"#match-rows tr[data-match='{archived['bots']}'] .scores").inner_text()
    assert not page.errors, page.errors


def scoreboard(page) -> dict[str, int]:
    rows = page.page.locator("#scoreboard-body tr")
    return {rows.nth(i).locator(".name").inner_text(): int(rows.nth(i).locator(".score").inner_text())
            for i in range(rows.count())}


def test_the_timeline_scrubs_to_a_frame_and_jumps_to_the_next_kill(page, archived):
    open_replay(page, archived, archived["bots"])
    state = recorded_state(archived["bots_path"], 2400)
    expected = {p.name: p.score for p in state.players.values()}
    assert any(expected.values())  # somebody has scored by then: the check means something
    seek(page, 2400)
    wait_until(lambda: scoreboard(page) == expected, 10, f"the scoreboard to show frame 2400's scores {expected}")
    kills = kill_frames(archived["bots_path"])
    after = next(f for f in kills if f > 1000)
    seek(page, 1000)
    page.page.click("#tl-next-kill")
    page.page.wait_for_function("(f) => window.gametap.replay.world.frame === f", arg=after, timeout=30000)
    events = page.page.evaluate("() => window.gametap.replay.world.events.map((e) => !!e.kill)")
    assert any(events)  # the frame it landed on has the kill
    page.page.click("#tl-play")  # plays on from there
    page.page.wait_for_function("(f) => window.gametap.replay.world.frame > f + 5", arg=after, timeout=30000)
    assert "replay" in page.page.locator("#tl-mode").inner_text()
    assert not page.errors, page.errors


def test_an_agents_slot_shows_what_it_sees_and_its_sent_and_teacher_actions(page, archived):
    open_replay(page, archived, archived["agents"])
    me = archived["agent"]
    frames = [f for f, _, w in frame_by_frame(archived["agents_path"])
              if me in w.players and w.players[me].sees and w.players[me].HasField("teacher")]
    frame = frames[len(frames) // 2]
    state = recorded_state(archived["agents_path"], frame)
    agent = state.players[me]
    sees = set(agent.sees) | {me}
    hidden = sorted({c for c in state.players if c not in sees} | {n for n in state.entities if n not in sees})
    assert hidden  # something is out of its view at that frame
    seek(page, frame)
    page.page.locator(f"#scoreboard-body tr[data-client='{me}']").click()
    page.page.wait_for_function("() => window.gametap.view.dimmed !== null", timeout=10000)
    dimmed = page.page.evaluate("() => [...window.gametap.view.dimmed].sort((a, b) => a - b)")
    assert dimmed == hidden
    table = page.page.locator("#agent-actions")
    table.wait_for(timeout=10000)
    assert table.locator("tr[data-field='forward'] .sent").inner_text() == str(agent.command.forward)
    assert table.locator("tr[data-field='forward'] .teacher").inner_text() == str(agent.teacher.forward)
    yaw = agent.teacher.yaw * 360 / 65536
    assert table.locator("tr[data-field='yaw °'] .teacher").inner_text() == f"{yaw - 360 if yaw > 180 else yaw:.1f}"
    assert not page.errors, page.errors


def test_a_damaged_recording_replays_to_the_damage_and_says_so(page, archived):
    damaged = archived["damaged"]
    assert 1000 < damaged.last_frame < 3000 and "is corrupt (checksum mismatch)" in damaged.problem
    open_replay(page, archived, DAMAGED)
    notice = page.page.locator("#notice")
    notice.wait_for(timeout=20000)
    assert notice.inner_text() == (f"The recording is damaged: {damaged.problem}. "
                                   f"It replays to frame {damaged.last_frame}.")
    assert page.page.evaluate("() => Number(document.getElementById('tl-slider').max)") == damaged.last_frame
    seek(page, damaged.last_frame - 5)  # the frames just before the damage replay
    page.page.click("#tl-play")
    page.page.wait_for_function("(f) => window.gametap.replay.world.frame === f && !window.gametap.replay.playing",
                                arg=damaged.last_frame, timeout=30000)  # and playing stops at the last good one
    assert not page.errors, page.errors
