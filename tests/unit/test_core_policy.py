"""Where the games that agents step run (MatchManager.agents_stepping): on the worker's core
while one is stepped, anywhere once several are."""
from types import SimpleNamespace

from gametap.worker.manager import MatchManager


class FakeMatch:
    def __init__(self):
        self.home: list[bool] = []
        self.is_ended = False

    def keep_game_home(self, home: bool) -> None:
        self.home.append(home)


def test_one_stepped_game_runs_home_and_several_run_anywhere():
    manager = SimpleNamespace(_stepped=set())
    step = MatchManager.agents_stepping.__get__(manager)
    a, b = FakeMatch(), FakeMatch()
    step(a, True)
    assert a.home[-1] is True  # alone: on the worker's core
    step(b, True)
    assert a.home[-1] is False and b.home[-1] is False  # two: both anywhere
    step(b, False)
    assert a.home[-1] is True and b.home[-1] is False  # alone again
    a.is_ended = True
    step(b, True)
    assert b.home[-1] is True  # an ended match no longer counts
    step(b, False)
    assert b.home[-1] is False and manager._stepped == set()
