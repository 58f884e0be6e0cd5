"""[game] join_password with Debian's stock OpenArena client: a player without it is refused
by the game, one with it plays (issue 20, defect 12)."""
from __future__ import annotations

import pytest

from gametap.q3.v1 import world_pb2 as wpb
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

from .stock_client import StockClient, missing

pytestmark = [pytest.mark.game, pytest.mark.browser]

PASSWORD = "let-me-in.42"
GAME_PORTS = range(27980, 27990)  # clear of test_stock_client's, and of the ports the clients send from
JOIN_S = 120  # the client loads the map with software GL: generous, only catches hangs


def test_only_a_client_with_the_join_password_gets_in(tmp_path):
    if missing():
        pytest.fail(f"missing {', '.join(missing())}: `make setup` installs openarena, xvfb and xdotool")
    config = tmp_path / "gametap.toml"
    config.write_text(f'[server]\ngame_ports = "{GAME_PORTS[0]}-{GAME_PORTS[-1]}"\n[game]\njoin_password = "{PASSWORD}"\n')
    daemon = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        with daemon.client() as c:
            match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, frag_limit=0))
            port = wait_until(lambda: (m := c.get_match(match.id)).frame > 20 and m.game_port, 60, "the match to run")

            def humans(name):
                return [p for p in c.get_state(match.id).players if p.name == name and p.controller == wpb.CONTROLLER_HUMAN]

            stranger = StockClient(tmp_path / "stranger", port, "Stranger", client_port=27970)
            try:
                wait_until(lambda: "Invalid password" in stranger.output(), JOIN_S, "the game to refuse the stranger")
                assert not humans("Stranger")
            finally:
                stranger.close()
            friend = StockClient(tmp_path / "friend", port, "Friend", client_port=27971, password=PASSWORD)
            try:
                wait_until(lambda: humans("Friend"), JOIN_S, "the friend, who has the password, to join")
                assert "Invalid password" not in friend.output()
            finally:
                friend.close()
    finally:
        daemon.stop()
