"""The viewer against a daemon with access tokens: `/?token=TOKEN` carries the token to the
API and the websocket; without one the page says what it needs."""
from __future__ import annotations

import pytest

from gametap.client import Client
from gametap.testing import start_daemon_with_tokens, wait_until
from gametap.v1 import match_pb2 as mpb

pytestmark = [pytest.mark.game, pytest.mark.browser]
ADMIN, VIEWER = "admin-token-0123456789", "viewer-token-0123456789"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    daemon = start_daemon_with_tokens(tmp_path_factory.mktemp("viewer-auth-state"), {ADMIN: "admin", VIEWER: "observe"})
    with Client(daemon.grpc, token=ADMIN) as c:
        match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)]))
        wait_until(lambda: c.get_match(match.id).frame > 20, 60, "the match to run")
    yield daemon, match
    daemon.stop()


def test_with_a_token_the_viewer_lists_and_shows_the_match(guarded, page):
    daemon, match = guarded
    page.page.goto(f"http://{daemon.http}/?token={VIEWER}#/")
    page.page.wait_for_selector(f"text={match.id}", timeout=10000)
    page.page.goto(f"http://{daemon.http}/?token={VIEWER}#/match/{match.id}")
    page.page.wait_for_function("() => window.gametap.world.players.size === 1 && window.gametap.view.geometry",
                                timeout=20000)
    assert page.page.inner_text("#connection") == "live"
    assert page.errors == []


def test_without_a_token_the_viewer_says_it_needs_one(guarded, page):
    daemon, _ = guarded
    page.page.goto(f"http://{daemon.http}/#/")
    page.page.wait_for_selector("text=This daemon needs a token", timeout=10000)
    assert page.page.inner_text("#connection") != "live"
