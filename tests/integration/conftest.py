"""Integration fixtures: the real daemon (a subprocess on loopback) hosting the real OpenArena."""
from __future__ import annotations

import pytest

from gametap.client import Client
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

ENDED = (mpb.FINISHED, mpb.STOPPED, mpb.FAILED)
FOUR_BOTS = ("Sarge", "Grism", "Kyonshi", "Major")


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    d = start_daemon(tmp_path_factory.mktemp("state"), "--no-default-match")
    yield d
    d.stop()


@pytest.fixture
def client(daemon):
    with daemon.client() as c:
        yield c


def lockstep(bots=FOUR_BOTS, skill=3, **kw) -> mpb.MatchConfig:
    return mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=[mpb.BotConfig(name=n, skill=skill) for n in bots], **kw)


def wait_ended(client: Client, match_id: str, timeout: float = 120) -> mpb.Match:
    return wait_until(lambda: (m := client.get_match(match_id)).status in ENDED and m, timeout,
                      f"match {match_id} to end")
