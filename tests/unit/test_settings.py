"""Settings files: defaults, overrides, and clear errors."""
import json
from pathlib import Path

import pytest

from gametap.core import settings
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
    ('[game]\nname = "quake"\n', "fake, openarena"),
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


SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef"  # an access token, as `openssl rand -hex 24` makes


@pytest.mark.parametrize("text, needle", [
    (f'[auth]\n"{SECRET}" = "admin"\n"{SECRET[::-1]}" = "observe"\n', "2 that may be access tokens"),
    (f'"{SECRET}" = "admin"\n[server]\n', "unknown sections"),           # above every section
    (f'[server]\ngrpc = "127.0.0.1:1"\n"{SECRET}" = "admin"\n', r"\[server\]"),
    (f'[game]\n"{SECRET}" = "admin"\n', r"\[game\]"),
    (f'[limits]\nmatches = 3\n"{SECRET}" = "admin"\n', r"\[limits\]"),
    (f'[default_match]\nmap = "oa_dm1"\n"{SECRET}" = "admin"\n', r"\[default_match\]"),  # tokens pasted at the end
    (f'[auth.tokens]\n"{SECRET}" = "{SECRET[::-1]}"\n', "not one of observe, play, admin"),  # a token for a role
])
def test_errors_never_show_what_may_be_an_access_token(tmp_path: Path, text, needle):
    """A token written in the wrong place (issue 20, defect 3): the error says so without the token."""
    f = tmp_path / "g.toml"
    f.write_text(text)
    with pytest.raises(settings.SettingsError, match=needle) as e:
        settings.load(f)
    message = str(e.value)
    assert SECRET not in message and SECRET[::-1] not in message and SECRET[:12] not in message, message
    if "tokens" in needle or "[" in needle:
        assert "[auth.tokens]" in message, message


def test_a_short_unknown_key_is_still_named_and_a_long_typo_gets_its_key(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text('[limits]\nsubscriptions_per_websockets = 3\nmatchs = 2\n')
    with pytest.raises(settings.SettingsError) as e:
        settings.load(f)
    assert "'matchs' (did you mean matches?)" in str(e.value)
    assert "'subscriptions_per_websockets' (did you mean subscriptions_per_websocket?)" in str(e.value)


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_bytes(b'[server]\ngrpc = "127.0.0.1:1"\n# caf\xe9\n')
    with pytest.raises(settings.SettingsError) as e:
        settings.load(f)
    assert str(f) in str(e.value) and "UTF-8" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("password", ["with space", 'quote"d', "semi;colon", "x" * 65, "None", 5])
def test_a_bad_join_password_is_refused_without_showing_it(tmp_path: Path, password):
    f = tmp_path / "g.toml"
    f.write_text(f"[game]\njoin_password = {json.dumps(password)}\n")  # a TOML basic string, or a number
    with pytest.raises(settings.SettingsError, match="join_password") as e:
        settings.load(f)
    message = str(e.value).removeprefix(f"{f}: ")
    assert str(password) not in message.replace('not "none"', ""), message


def test_a_join_password_reaches_the_workers(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text('[game]\njoin_password = "let-me-in.42"\n')
    s = settings.load(f)
    assert s.join_password == "let-me-in.42" and settings.Settings.from_dict(s.to_dict()).join_password == s.join_password


def test_the_game_is_chosen_by_name_and_reaches_the_workers(tmp_path: Path):
    f = tmp_path / "g.toml"
    f.write_text('[game]\nname = "fake"\n')
    s = settings.load(f)
    assert s.make_game().name == "fake" and settings.Settings.from_dict(s.to_dict()).make_game().name == "fake"
    assert settings.load(None).make_game().name == "openarena"


def test_random_files_are_a_settings_error_and_nothing_else(tmp_path: Path):
    """Whatever the file holds, loading it is a Settings or one SettingsError (never another exception)."""
    import random
    rng = random.Random(20)
    pieces = ["[server]", "[game]", "[auth]", "[auth.tokens]", "[limits]", "[default_match]", "[recording]",
              'grpc = "x"', "workers = 0", 'matches = "a"', "bots = [1, 2]", "tokens = 5", '"k" = "admin"',
              "enabled = false", "map = 3", "= =", "[[x]]", "\xff", "a.b.c = 1", "seed = -1", "keep_days = -2"]
    f = tmp_path / "g.toml"
    for _ in range(400):
        if rng.random() < 0.3:
            f.write_bytes(rng.randbytes(rng.randint(0, 200)))
        else:
            f.write_text("\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))), errors="surrogateescape")
        try:
            settings.load(f)
        except settings.SettingsError as e:
            assert "\n" not in str(e), str(e)  # one line
