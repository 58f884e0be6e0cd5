"""A game that stops running frames while its process lives fails its match (issue 10): the
console's `killserver` shuts the server down and leaves the process idle. A LOCKSTEP game
waiting for its agents is not stalled."""
from __future__ import annotations

import time

import grpc
import pytest

from gametap.client import AgentStream
from gametap.testing import wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


@pytest.mark.parametrize("clock", [mpb.REALTIME, mpb.LOCKSTEP], ids=["realtime", "lockstep"])
def test_a_game_that_stops_running_frames_fails_its_match(client, clock):
    config = lockstep(bots=("Grism",)) if clock == mpb.LOCKSTEP else mpb.MatchConfig(
        clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)])
    match = client.create_match(config)
    wait_until(lambda: client.get_match(match.id).status == mpb.RUNNING, 30, "the match to run")
    try:
        client.run_command(match.id, "killserver")
    except grpc.RpcError:
        pass  # the game may not answer any more: that is the point
    stopped = time.monotonic()
    ended = wait_ended(client, match.id, timeout=30)
    assert ended.status == mpb.FAILED and "stopped running frames" in ended.failure
    assert time.monotonic() - stopped < 10  # within the stall bound (1.75 s) plus the process's end
    assert ended.frames_per_second == 0


def test_a_lockstep_game_waiting_for_its_agent_is_not_stalled(client):
    match = client.create_match(lockstep(bots=("Grism",), hold_for_agents=1))
    wait_until(lambda: client.get_match(match.id).status == mpb.RUNNING, 30, "the match to run")
    time.sleep(3)  # held for its agent, which has not come yet
    assert client.get_match(match.id).status == mpb.RUNNING
    with AgentStream(client, match.id, [apb.SlotSpec(name="thinker")], action_timeout_ms=20000) as agents:
        agents.observe()
        time.sleep(3)  # the agent thinks for longer than the stall bound: the game waits, alive
        assert client.get_match(match.id).status == mpb.RUNNING
        agents.step([apb.Action(client=agents.clients[0], forward=1.0)])
    client.stop_match(match.id)
