"""The viewer in real headless Chromium, watching real OpenArena matches."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from gametap.client import World
from gametap.recordings.recording import read_recording
from gametap.testing import free_port, start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

pytestmark = [pytest.mark.game, pytest.mark.browser]
FOUR_BOTS = [mpb.BotConfig(name=n, skill=3) for n in ("Sarge", "Grism", "Kyonshi", "Major")]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "viewer.png"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A daemon on fixed ports (the reconnect test restarts it there), with a live REALTIME match."""
    state = tmp_path_factory.mktemp("viewer-state")
    grpc_port, http_port = free_port(), free_port()
    args = ("--no-default-match", "--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}")
    daemon = start_daemon(state, *args)  # the later --grpc/--http win over start_daemon's own
    with daemon.client() as c:
        match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=FOUR_BOTS, frag_limit=0))
        wait_until(lambda: c.get_match(match.id).frame > 40, 60, "the match to run")
    box = {"daemon": daemon, "match": match, "state": state, "args": args}
    yield box
    box["daemon"].stop()


def canvas_pixels(page) -> list[int]:
    """A coarse grid of the map canvas's pixels (as the page sees them)."""
    return page.evaluate("""() => {
        const c = document.getElementById('map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let y = 0; y < c.height; y += 4) for (let x = 0; x < c.width; x += 4) out.push(d[(y * c.width + x) * 4]);
        return out;
    }""")


def replay_until(recording, frame: int):
    """The daemon's state at `frame`, from its recording (first keyframe, then consecutive deltas)."""
    world = World()
    for raw in read_recording(recording).updates:
        update = opb.WorldUpdate.FromString(raw)
        kind = update.WhichOneof("update")
        if (kind == "keyframe" and not world.has_state) or (kind == "delta" and world.has_state):
            world.apply(update)
        if world.frame == frame:
            break
    return world


def open_match(p, served):
    p.page.goto(f"http://{served['daemon'].http}/#/match/{served['match'].id}")
    p.page.wait_for_function("() => window.gametap && window.gametap.world.hasState && window.gametap.view.geometry",
                             timeout=20000)
    p.page.wait_for_timeout(500)


def test_match_list_loads_without_errors(page, served):
    p = page
    p.page.goto(f"http://{served['daemon'].http}/")
    p.page.wait_for_selector(f"text={served['match'].id}", timeout=10000)
    assert p.page.inner_text("#connection") == "live"
    assert p.errors == []


def test_the_match_stream_comes_from_its_worker_not_the_daemon(page, served):
    p = page
    open_match(p, served)
    port = served["match"].placement.http_port
    assert port and p.page.evaluate("() => window.gametap.client.ws.url").startswith(f"ws://127.0.0.1:{port}/ws")
    assert p.errors == []


def test_map_drawn_and_players_move(page, served):
    p = page
    open_match(p, served)
    background = canvas_pixels(p.page)
    drawn = sum(1 for v in background if v > 20)  # the map's floors are lighter than the background
    assert drawn > len(background) * 0.2
    p.page.wait_for_timeout(1500)
    first = p.page.screenshot()
    before = canvas_pixels(p.page)
    p.page.wait_for_timeout(1500)
    second = p.page.screenshot()
    after = canvas_pixels(p.page)
    assert first != second
    assert sum(1 for a, b in zip(before, after) if a != b) > 30  # markers moved (bots run all the time)
    assert p.errors == []


def test_scoreboard_matches_get_state(page, served):
    p = page
    open_match(p, served)
    p.page.click("#pause")  # freeze the view, then compare it with the state at the frame it shows
    frame = int(p.page.inner_text("#frame"))
    rows = p.page.eval_on_selector_all("#scoreboard-body tr", """rows => rows.map(r => ({
        client: Number(r.dataset.client), name: r.querySelector('.name').textContent,
        score: Number(r.querySelector('.score').textContent)}))""")
    shown = {r["client"]: (r["name"], r["score"]) for r in rows}
    time.sleep(0.5)  # the daemon flushes its recording every 0.2 s
    world = replay_until(served["daemon"].match_dir(served["match"].id) / "updates.gtrec", frame)
    assert world.frame == frame
    assert shown == {c: (pl.name, pl.score) for c, pl in world.players.items()}
    with served["daemon"].client() as c:  # and the live state has the same players
        assert {pl.name for pl in c.get_state(served["match"].id).players} == {n for n, _ in shown.values()}
    assert p.errors == []


def test_clicking_a_player_shows_its_fields(page, served):
    p = page
    open_match(p, served)
    p.page.click("#pause")
    client = p.page.evaluate("() => [...window.gametap.frozen.players.values()].find(pl => pl.alive).client")
    pos = p.page.evaluate(f"() => window.gametap.view.screenPositionOf({client})")
    box = p.page.locator("#map").bounding_box()
    p.page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    p.page.wait_for_selector("#inspector:not([hidden])", timeout=5000)
    text = p.page.inner_text("#inspector")
    name = p.page.evaluate(f"() => window.gametap.frozen.players.get({client}).name")
    assert name in text
    for field in ("health", "armor", "origin", "view_angles", "weapon", "ammo", "score", "controller"):
        assert field in text, field
    assert "CONTROLLER_BOT" in text
    assert p.errors == []
    # The README's picture: GAMETAP_SCREENSHOT=1 make test writes docs/viewer.png.
    p.page.click("#pause")
    p.page.wait_for_timeout(1000)
    target = SCREENSHOT if os.environ.get("GAMETAP_SCREENSHOT") else Path("/tmp/gametap-viewer.png")
    target.parent.mkdir(exist_ok=True)
    p.page.screenshot(path=str(target))


def test_kill_feed_and_event_log_show_frags(page, served):
    p = page
    open_match(p, served)
    p.page.wait_for_function("() => window.gametap.world.kills.length > 0", timeout=90000)  # bots frag within seconds
    p.page.wait_for_selector("#killfeed .kill", timeout=5000)
    p.page.wait_for_selector("#eventlog .log.kill", timeout=5000)
    victim = p.page.evaluate("() => { const k = window.gametap.world.kills.at(-1).kill; "
                             "return window.gametap.world.players.get(k.victim).name; }")
    assert victim in p.page.inner_text("#killfeed") and victim in p.page.inner_text("#eventlog")
    assert p.errors == []


def test_disconnect_and_reconnect(page, served):
    p = page
    open_match(p, served)
    served["daemon"].stop(signal.SIGKILL)
    p.page.wait_for_function("() => document.getElementById('connection').textContent === 'disconnected'", timeout=15000)
    served["daemon"] = start_daemon(served["state"].parent / "second-life", *served["args"])
    p.page.wait_for_function("() => document.getElementById('connection').textContent === 'live'", timeout=20000)
    assert "no match" in p.page.inner_text("#notice")  # the new daemon has other matches
    with served["daemon"].client() as c:
        match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=FOUR_BOTS[:2]))
    served["match"] = match
    p.page.goto(f"http://{served['daemon'].http}/#/match/{match.id}")
    p.page.wait_for_function("() => window.gametap.world.players.size === 2", timeout=20000)
    # the browser logs the refused reconnects (the websocket's, and the asking which worker runs the match)
    assert [e for e in p.errors if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e] == []


def test_the_status_bar_shows_the_servers_frame_rate_not_the_updates_received(page, served):
    """A free-running LOCKSTEP game runs thousands of frames/s; a viewer gets at most 240 updates/s."""
    p = page
    with served["daemon"].client() as c:
        match = c.create_match(mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=[mpb.BotConfig(name="Grism", skill=1)],
                                               max_frames=10**7))
        try:
            p.page.goto(f"http://{served['daemon'].http}/#/match/{match.id}")
            p.page.wait_for_function("() => Number(document.getElementById('fps').textContent) > 1000", timeout=20000)
            shown = float(p.page.inner_text("#fps"))
            assert shown > 1000 and c.get_match(match.id).frames_per_second > 1000
        finally:
            c.stop_match(match.id)
    assert p.errors == []
