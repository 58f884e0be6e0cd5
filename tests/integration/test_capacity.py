"""The game module's capacity: every configured bot joins, a burst of joins is paced so the game
drops nobody, and what would not fit is refused with the number (issue: bots past about 12 were
silently lost, and the 26th player ended the game)."""
from __future__ import annotations

import grpc
import pytest

from gametap.client import AgentStream
from gametap.q3 import launch
from gametap.testing import wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep

pytestmark = pytest.mark.game

BOTS = ("Sarge", "Grism", "Kyonshi", "Major", "Angelyss", "Arachna", "Ayumi", "Beret", "Gargoyle", "Liz", "Merman",
        "Penguin")


def bots(n: int) -> list[str]:
    return [BOTS[i % len(BOTS)] for i in range(n)]


@pytest.mark.parametrize("clock", [mpb.LOCKSTEP, mpb.REALTIME])
def test_every_configured_bot_joins_up_to_the_limit(client, daemon, clock):
    config = lockstep(bots=bots(launch.MAX_BOT_PLAYERS), skill=1, frag_limit=0)
    config.clock = clock
    match = client.create_match(config)
    try:
        wait_until(lambda: len(client.get_state(match.id).players) == launch.MAX_BOT_PLAYERS, 60,
                   f"all {launch.MAX_BOT_PLAYERS} bots to join")
        assert client.get_match(match.id).status == mpb.RUNNING
        assert "Server command overflow" not in daemon.game_log(match.id)
    finally:
        client.stop_match(match.id)


def test_one_bot_too_many_is_refused_with_the_number(client):
    with pytest.raises(grpc.RpcError) as e:
        client.create_match(lockstep(bots=bots(launch.MAX_BOT_PLAYERS + 1)))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {launch.MAX_BOT_PLAYERS}" in e.value.details()


def test_a_burst_of_agent_joins_is_paced_and_nobody_is_dropped(client, daemon):
    """20 agents' players asked for at once beside 4 bots: all in, and the game keeps everyone."""
    match = client.create_match(lockstep(bots=bots(4), skill=1, max_frames=100_000))
    try:
        slots = [apb.SlotSpec(name=f"agent{i}") for i in range(launch.MAX_BOT_PLAYERS - 4)]
        with AgentStream(client, match.id, slots, action_timeout_ms=500) as stream:
            assert len(set(stream.clients)) == len(slots)
            for _ in range(40):  # every player's join is announced to every other; all stay
                stream.step([apb.Action(client=c, forward=1.0) for c in stream.clients])
            assert len(client.get_state(match.id).players) == launch.MAX_BOT_PLAYERS
            assert "Server command overflow" not in daemon.game_log(match.id)
            assert client.get_match(match.id).status == mpb.RUNNING
    finally:
        client.stop_match(match.id)
