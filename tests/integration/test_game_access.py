"""Who a REALTIME game's UDP port lets in, on the real game: voting is off, and [game]
join_password makes the game ask every joining client for it (issue 20, defect 12)."""
from __future__ import annotations

import socket

import pytest

from gametap.client import Client
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

pytestmark = pytest.mark.game
PASSWORD = "let-me-in.42"


def cvar(client: Client, match_id: str, name: str) -> str:
    """The game's answer to a cvar's name: `"name" is:"value^7" default:"..."`, colour codes and all."""
    return client.run_command(match_id, name)


def server_status(port: int) -> dict[str, str]:
    """The game's reply to a connectionless getstatus on its UDP port: its serverinfo, as any
    OpenArena client or server browser sees it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"\xff\xff\xff\xffgetstatus\n", ("127.0.0.1", port))
        reply = s.recv(65536)
    head, _, rest = reply.partition(b"\n")
    assert head == b"\xff\xff\xff\xffstatusResponse", reply[:40]
    fields = rest.split(b"\n")[0].decode("latin-1").split("\\")[1:]
    return dict(zip(fields[0::2], fields[1::2]))


def running(client: Client, clock=mpb.REALTIME) -> mpb.Match:
    """A match of that clock, running (a LOCKSTEP one runs free: a game runs console commands between frames)."""
    match = client.create_match(mpb.MatchConfig(clock=clock))
    return wait_until(lambda: (m := client.get_match(match.id)).status == mpb.RUNNING and m.frame > 5 and m, 60,
                      "the match to run")


def test_voting_is_off_and_no_password_is_asked_by_default(daemon, client):
    match = running(client)
    try:
        assert '"g_allowVote" is:"0' in cvar(client, match.id, "g_allowVote")
        assert server_status(match.game_port).get("g_needpass", "0") == "0"
        lockstep = running(client, mpb.LOCKSTEP)
        assert '"g_allowVote" is:"0' in cvar(client, lockstep.id, "g_allowVote")
        client.stop_match(lockstep.id)
    finally:
        client.stop_match(match.id)


def test_a_join_password_is_asked_of_every_client(tmp_path):
    config = tmp_path / "gametap.toml"
    config.write_text(f'[game]\njoin_password = "{PASSWORD}"\n')
    daemon = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        with daemon.client() as c:
            match = running(c)
            assert PASSWORD not in daemon.game_log(match.id)  # (until asked for below: the console's output goes there)
            assert f'"g_password" is:"{PASSWORD}' in cvar(c, match.id, "g_password")
            assert server_status(match.game_port)["g_needpass"] == "1"  # what server browsers show
            lockstep = running(c, mpb.LOCKSTEP)  # no network: nobody to ask
            assert f'"g_password" is:"{PASSWORD}' not in cvar(c, lockstep.id, "g_password")
            c.stop_match(match.id)
        assert not any(PASSWORD in line for line in daemon.output)
    finally:
        daemon.stop()
