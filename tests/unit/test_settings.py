"""Settings files: defaults, overrides, and clear errors."""
from pathlib import Path

import pytest

from gametap import settings
from gametap.v1 import match_pb2 as mpb


def test_defaults_serve_one_realtime_match_on_loopback():
    s = settings.load(None)
    assert s.grpc.startswith("127.0.0.1:") and s.http.startswith("127.0.0.1:")
    assert s.default_match.map == "oa_dm1" and s.default_match.clock == mpb.REALTIME
    assert len(s.default_match.bots) == 4


def test_file_values_and_default_match(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text('[server]\ngrpc = "0.0.0.0:1234"\nstate_dir = "/tmp/x"\n'
                 '[default_match]\nmap = "oasago2"\nclock = "LOCKSTEP"\nbots = [{ name = "Grism", skill = 2 }]\n')
    s = settings.load(f)
    assert s.grpc == "0.0.0.0:1234" and s.state_dir == Path("/tmp/x")
    assert s.default_match.map == "oasago2" and s.default_match.clock == mpb.LOCKSTEP
    assert s.default_match.bots[0].skill == 2


def test_default_match_can_be_disabled(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text("[default_match]\nenabled = false\n")
    assert settings.load(f).default_match is None


@pytest.mark.parametrize("text, needle", [
    ("[server\n", "g.toml"),
    ("[surprise]\n", "unknown sections"),
    ('[default_match]\nmapp = "x"\n', "mapp"),
    ('[game]\nbinnary = "x"\n', "binnary"),
    ('[recording]\nmax_byte = 5\n', "max_byte"),
    ('[server]\ngame_ports = "27960"\n', "game_ports"),
    ('[server]\ngame_ports = "27999-27960"\n', "game_ports"),
    ("[game]\nclient_timeout_s = 1\n", "client_timeout_s"),
])
def test_bad_files_say_what_is_wrong(tmp_path: Path, text, needle):
    f = tmp_path / "g.toml"
    f.write_text(text)
    with pytest.raises(settings.SettingsError, match=needle):
        settings.load(f)


def test_game_ports_are_shared_out_between_workers(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text('[server]\nworkers = 2\ngame_ports = "27960-27964"\n[game]\nclient_timeout_s = 12\n')
    s = settings.load(f)
    assert s.game_ports == (27960, 27961, 27962, 27963, 27964) and s.client_timeout_s == 12
    assert s.for_worker(0).game_ports == (27960, 27962, 27964)
    assert s.for_worker(1).game_ports == (27961, 27963)
    assert settings.Settings.from_dict(s.to_dict()).game_ports == s.game_ports  # as sent to the workers


def test_the_service_credential_is_the_settings_file(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert settings.service_credential() is None
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert settings.service_credential() is None  # the directory, but no gametap.toml in it
    (tmp_path / "gametap.toml").write_text("# no /etc/gametap/gametap.toml: the defaults\n")
    assert settings.service_credential() == tmp_path / "gametap.toml"
    assert settings.load(settings.service_credential()).grpc == "127.0.0.1:50051"


@pytest.mark.parametrize("text, keep_bytes, keep_share, keep_free_bytes", [
    ("", 0, 0.25, 1 << 30),                                   # the default: a quarter of the file system
    ("keep_bytes = 0\n", 0, 0.0, 1 << 30),                    # set to 0: no bound on the archive's size
    ("keep_bytes = 5000000\n", 5_000_000, 0.0, 1 << 30),
    ('keep_bytes = "10%"\n', 0, 0.10, 1 << 30),
    ('keep_bytes = "2.5%"\nkeep_free_bytes = 0\n', 0, 0.025, 0),
])
def test_the_archive_s_bound(tmp_path: Path, text, keep_bytes, keep_share, keep_free_bytes):
    f = tmp_path / "g.toml"
    f.write_text("[recording]\n" + text)
    r = settings.load(f).retention
    assert (r.keep_bytes, r.keep_share, r.keep_free_bytes) == (keep_bytes, keep_share, keep_free_bytes)
    assert settings.Settings().retention == settings.load(None).retention == settings.Retention()
    assert (settings.Retention().keep_share, settings.Retention().keep_free_bytes) == (0.25, 1 << 30)


@pytest.mark.parametrize("text", ['keep_bytes = "lots"', 'keep_bytes = "0%"', 'keep_bytes = "101%"',
                                  "keep_bytes = -1", "keep_free_bytes = -5", 'keep_bytes = "%"', "keep_bytes = 1.5",
                                  "keep_bytes = true"])
def test_bad_bounds_say_what_is_wrong(tmp_path: Path, text):
    f = tmp_path / "g.toml"
    f.write_text("[recording]\n" + text + "\n")
    with pytest.raises(settings.SettingsError, match="keep_"):
        settings.load(f)
