"""Access tokens and roles: parsing, the gate's decisions, the method table, settings."""
import pytest

from gametap.core import settings as settings_mod
from gametap.core.auth import METHOD_ROLES, Gate, Role, bearer, parse_tokens
from gametap.core.errors import PermissionDenied, Unauthenticated
from gametap.v1 import agent_pb2, archive_pb2, match_pb2, observe_pb2

ADMIN, PLAYER, VIEWER = "admin-token-0123456789", "player-token-0123456789", "viewer-token-0123456789"
GATE = Gate(parse_tokens({ADMIN: "admin", PLAYER: "play", VIEWER: "observe"}))


def test_every_method_of_the_gametap_services_needs_a_role():
    methods = {f"/{s.full_name}/{m.name}" for module in (agent_pb2, archive_pb2, match_pb2, observe_pb2)
               for s in module.DESCRIPTOR.services_by_name.values() for m in s.methods}
    assert methods == set(METHOD_ROLES)


@pytest.mark.parametrize("token,needed,allowed", [
    (ADMIN, Role.ADMIN, True), (ADMIN, Role.PLAY, True), (ADMIN, Role.OBSERVE, True),
    (PLAYER, Role.ADMIN, False), (PLAYER, Role.PLAY, True), (PLAYER, Role.OBSERVE, True),
    (VIEWER, Role.ADMIN, False), (VIEWER, Role.PLAY, False), (VIEWER, Role.OBSERVE, True),
])
def test_a_role_allows_what_it_reaches(token, needed, allowed):
    if allowed:
        GATE.check(token, needed)
    else:
        with pytest.raises(PermissionDenied, match=f"needs the {needed.name.lower()} role"):
            GATE.check(token, needed)


@pytest.mark.parametrize("token,message", [(None, "needs a token"), ("x" * 20, "unknown token"),
                                           (ADMIN[:-1], "unknown token"), (ADMIN + "0", "unknown token")])
def test_missing_and_unknown_tokens_are_unauthenticated(token, message):
    with pytest.raises(Unauthenticated, match=message):
        GATE.check(token, Role.OBSERVE)


def test_without_tokens_everything_is_open_and_unlisted_methods_need_nothing():
    Gate({}).check(None, Role.ADMIN)
    GATE.check(None, None)


@pytest.mark.parametrize("table,message", [
    ({"short": "admin"}, "16..256 characters"),
    ({"has spaces in it, no good": "admin"}, "16..256 characters"),
    ({ADMIN: "root"}, "role 'root' is not one of"),
    ("admin", "must be a table"),
])
def test_bad_token_tables_are_refused(table, message):
    with pytest.raises(ValueError, match=message):
        parse_tokens(table)


@pytest.mark.parametrize("header,token", [
    (f"Bearer {ADMIN}", ADMIN), (f"bearer   {ADMIN} ", ADMIN), (ADMIN, None), ("Basic abc", None),
    ("Bearer", None), ("Bearer a b", None), ("", None), (None, None),
])
def test_bearer_header(header, token):
    assert bearer(header) == token


def test_settings_file_tokens_and_their_errors(tmp_path):
    path = tmp_path / "gametap.toml"
    path.write_text(f'[auth.tokens]\n"{ADMIN}" = "admin"\n"{VIEWER}" = "Observe"\n')
    assert settings_mod.load(path).tokens == {ADMIN: Role.ADMIN, VIEWER: Role.OBSERVE}
    path.write_text('[auth]\nusers = 1\n')
    with pytest.raises(settings_mod.SettingsError, match=r"unknown keys in \[auth\]"):
        settings_mod.load(path)
    path.write_text('[auth.tokens]\n"tiny" = "admin"\n')
    with pytest.raises(settings_mod.SettingsError, match="16..256"):
        settings_mod.load(path)


def test_an_exposed_address_without_tokens_is_warned_about():
    exposed = settings_mod.Settings(grpc="0.0.0.0:50051")
    assert any("no [auth.tokens]" in w for w in exposed.warnings())
    assert not any("auth" in w for w in settings_mod.Settings().warnings())
    guarded = settings_mod.Settings(grpc="0.0.0.0:50051", tokens={ADMIN: Role.ADMIN})
    assert not any("auth" in w for w in guarded.warnings())


def test_a_reload_revokes_the_open_streams_its_tokens_no_longer_allow():
    gate = Gate(parse_tokens({ADMIN: "admin", PLAYER: "play", VIEWER: "observe"}))
    revoked = {}
    with gate.held(VIEWER, Role.OBSERVE, lambda e: revoked.setdefault("viewer", e)), \
            gate.held(PLAYER, Role.PLAY, lambda e: revoked.setdefault("player", e)), \
            gate.held(ADMIN, Role.OBSERVE, lambda e: revoked.setdefault("admin", e)):
        gate.replace(parse_tokens({ADMIN: "admin", PLAYER: "observe"}))
        assert set(revoked) == {"viewer", "player"} and gate.revoked == 2
        assert isinstance(revoked["viewer"], Unauthenticated) and isinstance(revoked["player"], PermissionDenied)
        assert "reloaded" in str(revoked["viewer"]) and "needs the play role" in str(revoked["player"])
        gate.replace(parse_tokens({PLAYER: "observe"}))  # each is revoked once; the admin's goes now
        assert set(revoked) == {"viewer", "player", "admin"} and gate.revoked == 3
    with gate.held(None, Role.OBSERVE, lambda e: revoked.setdefault("anonymous", e)):
        gate.replace({})  # no tokens: open to all, nothing to revoke
        gate.replace(parse_tokens({ADMIN: "admin"}))  # tokens turned on: a stream without one ends
    assert "anonymous" in revoked and gate.revoked == 4
    gate.replace({})
    assert gate.revoked == 4  # a stream that ended is no longer held
