"""The daemon's core on the fake game (gametap.games.fake): real game processes, links,
workers and sockets; only the game is fake. None of these carry the `game` marker."""
import pytest

from gametap.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state", game="fake", default_match=None, workers=2, pin_workers=False)
