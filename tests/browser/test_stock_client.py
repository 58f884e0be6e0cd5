"""Humans with the game's own client: Debian's openarena, unmodified, default settings, under
Xvfb with software GL, joining a REALTIME match on the real daemon."""
from __future__ import annotations

import math
import time

import pytest

from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import read_recording
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .stock_client import StockClient, missing

pytestmark = [pytest.mark.game, pytest.mark.browser]

GAME_PORTS = range(27990, 28000)  # clear of 27960, where the clients send from
CLIENT_TIMEOUT_S = 8
REFUSALS = ("Duplicate GUID", "Illegible server message")  # what the client prints when it cannot join
JOIN_S = 120  # the client loads the map with software GL: generous, only catches hangs


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if missing():
        pytest.fail(f"missing {', '.join(missing())}: `make setup` installs openarena, xvfb and xdotool")
    state = tmp_path_factory.mktemp("stock-client-state")
    config = state / "gametap.toml"
    config.write_text(f'[server]\ngame_ports = "{GAME_PORTS[0]}-{GAME_PORTS[-1]}"\n'
                      f"[game]\nclient_timeout_s = {CLIENT_TIMEOUT_S}\n")
    daemon = start_daemon(state, "--no-default-match", "--config", str(config))
    with daemon.client() as c:  # no bots: nothing pushes the human around but its own keys
        match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, frag_limit=0))
        wait_until(lambda: c.get_match(match.id).frame > 20, 60, "the match to run")
        yield {"daemon": daemon, "match": c.get_match(match.id), "client": c, "homes": tmp_path_factory}
    daemon.stop()


def humans(served, name: str) -> list[wpb.Player]:
    state = served["client"].get_state(served["match"].id)
    return [p for p in state.players if p.name == name and p.controller == wpb.CONTROLLER_HUMAN]


def in_game(served, name: str, client: StockClient):
    """The player, once spawned; fails at once if the game refused the client."""
    for refusal in REFUSALS:
        if refusal in client.output():
            raise AssertionError(f"{name} could not join: {refusal}")
    players = humans(served, name)
    return players[0] if players and players[0].health > 0 else None


def first_sight(served, name: str):
    """The player as soon as the game lists it (it connected; it may not have entered yet)."""
    return wait_until(lambda: (p := humans(served, name)) and p[0], JOIN_S, f"{name} to connect", interval=0.02)


def recorded_forward_moves(served, client: int) -> list[int]:
    """The human's forwardmove in each of its recorded command changes, so far (the match runs:
    its recording is read up to its last complete record)."""
    daemon, match_id = served["daemon"], served["match"].id
    moves = []
    for payload in read_recording(daemon.match_dir(match_id) / "updates.gtrec").updates:
        update = opb.WorldUpdate.FromString(payload)
        players = update.delta.players if update.HasField("delta") else ()
        moves += [p.command.forward for p in players if p.client == client and p.HasField("command")]
    return moves


def standing(served, name: str) -> tuple[wpb.Vec3] | None:
    """(where it stands) if the player has not moved over a second."""
    before = humans(served, name)[0].origin
    time.sleep(1.0)
    return (before,) if distance(before, humans(served, name)[0].origin) < 2 else None


def distance(a: wpb.Vec3, b: wpb.Vec3) -> float:
    return math.dist((a.x, a.y, a.z), (b.x, b.y, b.z))


def test_the_game_listens_in_the_configured_port_range(served):
    assert served["match"].game_port in GAME_PORTS


def test_a_stock_client_joins_moves_shows_in_the_viewer_and_leaves(served, page):
    client = StockClient(served["homes"].mktemp("home"), served["match"].game_port, "Tester")
    try:
        player = wait_until(lambda: in_game(served, "Tester", client), JOIN_S, "Tester to enter the game")
        # Untouched, it stands. It spawns 9 units above its spawn point and falls to the floor
        # only as its client's commands come, and a client busy with its first frames (no
        # shader cache yet: a fresh machine) sends them late, so the fall may come after entering.
        (still,) = wait_until(lambda: standing(served, "Tester"), JOIN_S, "Tester to stand still for a second")
        client.hold("w", 1.5)
        moved = humans(served, "Tester")[0].origin
        assert distance(still, moved) > 100, "holding w (+forward) should walk the player"
        # its commands are recorded: standing, walking while w was held, standing again once let go
        forwards = wait_until(lambda: (f := recorded_forward_moves(served, player.client))[-1] == 0 and f, 10,
                              "the recording to show w let go")
        assert forwards[0] == 0 and max(forwards) == 127

        page.page.goto(f"http://{served['daemon'].http}/#/match/{served['match'].id}")
        page.page.wait_for_selector("#scoreboard-body tr .name:text-is('Tester')", timeout=20000)
        shown = page.page.evaluate("() => [...window.gametap.world.players.values()].map(p => [p.client, p.name])")
        assert [player.client, "Tester"] in shown
        assert page.errors == []
    finally:
        client.close()
    wait_until(lambda: not humans(served, "Tester"), 20, "Tester to leave the game after quitting")


def test_a_retry_after_a_connection_that_never_finished_gets_in(served):
    """Killed before it entered, the first attempt holds a slot; the same player (same cl_guid)
    retrying from another port is let in, and the stale slot goes (the game drops it as a ghost)."""
    home = served["homes"].mktemp("home")
    first = StockClient(home, served["match"].game_port, "Again")
    try:
        assert first_sight(served, "Again").health == 0, "seen only once it had entered: too late to test"
        first.kill()
        assert len(humans(served, "Again")) == 1  # the engine keeps the slot for now
    finally:
        first.close()
    retry = StockClient(home, served["match"].game_port, "Again", client_port=27961)
    try:
        wait_until(lambda: in_game(served, "Again", retry), JOIN_S, "the retry to enter the game")
        assert len(humans(served, "Again")) == 1
    finally:
        retry.close()


def test_a_connection_that_never_finishes_is_dropped_after_client_timeout_s(served):
    client = StockClient(served["homes"].mktemp("home"), served["match"].game_port, "Lost")
    try:
        assert first_sight(served, "Lost").health == 0
        client.kill()
    finally:
        client.close()
    wait_until(lambda: not humans(served, "Lost"), CLIENT_TIMEOUT_S + 20, "the silent slot to be dropped")
