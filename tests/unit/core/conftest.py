"""The daemon's core on the fake game (gametap.games.fake): real game processes, links,
workers and sockets; only the game is fake. None of these carry the `game` marker."""
import pytest

from gametap.core.settings import Settings
from gametap.testing import start_daemon


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state", game="fake", default_match=None, workers=2, pin_workers=False)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """`gametap serve` (a subprocess on loopback) with one worker, hosting fake matches."""
    state = tmp_path_factory.mktemp("daemon")
    config = state / "gametap.toml"
    config.write_text('[server]\nworkers = 1\npin_workers = false\n\n[game]\nname = "fake"\n')
    d = start_daemon(state / "state", "--no-default-match", "--config", str(config))
    yield d
    d.stop()
