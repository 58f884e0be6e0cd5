"""TLS settings, the server's certificate (load, reload, refusal of a bad pair) and what a
client's tls argument means."""
from __future__ import annotations

import ssl

import grpc
import pytest

from gametap.client import tls as client_tls
from gametap.core import settings
from gametap.core.tls import ServerTls, TlsError, TlsFiles
from tests.certs import issue, make_ca


def load(tmp_path, text: str) -> settings.Settings:
    path = tmp_path / "gametap.toml"
    path.write_text(text)
    return settings.load(path)


def test_tls_settings_resolve_paths_and_go_to_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load(tmp_path, '[server]\ntls_cert = "c.pem"\ntls_key = "k.pem"\ntls_client_ca = "ca.pem"\n')
    assert s.tls == TlsFiles(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    assert s.http_scheme == "https"
    assert settings.Settings.from_dict(s.to_dict()).tls == s.tls
    plain = load(tmp_path, "")
    assert plain.tls is None and plain.http_scheme == "http"
    assert settings.Settings.from_dict(plain.to_dict()).tls is None


@pytest.mark.parametrize("text, needle", [
    ('[server]\ntls_cert = "c.pem"\n', "go together"),
    ('[server]\ntls_key = "k.pem"\n', "go together"),
    ('[server]\ntls_client_ca = "ca.pem"\n', "needs tls_cert and tls_key"),
    ('[server]\ntls_certificate = "c.pem"\n', "tls_certificate"),
])
def test_incomplete_tls_settings_are_refused(tmp_path, text, needle):
    with pytest.raises(settings.SettingsError, match=needle):
        load(tmp_path, text)


def test_tokens_beyond_loopback_without_tls_are_warned_about():
    s = settings.Settings(grpc="0.0.0.0:50051", tokens={"t" * 20: settings.Role.ADMIN})
    assert any("clear text" in w for w in s.warnings())
    with_tls = settings.Settings(grpc="0.0.0.0:50051", tokens={"t" * 20: settings.Role.ADMIN},
                                 tls=TlsFiles(settings.Path("c"), settings.Path("k")))
    assert not any("clear text" in w for w in with_tls.warnings())


def test_server_tls_loads_reloads_and_keeps_the_old_pair_on_a_bad_one(tmp_path):
    ca = make_ca(tmp_path, "ca")
    one, two = issue(ca, tmp_path, "one"), issue(ca, tmp_path, "two")
    tls = ServerTls(TlsFiles(one.cert, one.key))
    assert isinstance(tls.grpc_credentials(), grpc.ServerCredentials)
    assert tls._fetch() is None  # nothing new: grpc keeps what it has
    tls.reload(TlsFiles(two.cert, two.key))
    assert tls.files.cert == two.cert and tls._fetch() is not None and tls._fetch() is None
    with pytest.raises(TlsError, match="tls_cert .* and tls_key"):
        tls.reload(TlsFiles(one.cert, two.key))  # not its key
    assert tls.files.cert == two.cert and tls._fetch() is None  # nothing was swapped
    (tmp_path / "junk.pem").write_bytes(b"\x00\xff random bytes")
    with pytest.raises(TlsError, match="is not a PEM file"):
        ServerTls(TlsFiles(tmp_path / "junk.pem", one.key))
    with pytest.raises(TlsError, match="No such file"):
        ServerTls(TlsFiles(tmp_path / "nowhere.pem", one.key))


def test_a_client_ca_makes_the_server_ask_for_certificates(tmp_path):
    ca = make_ca(tmp_path, "ca")
    one = issue(ca, tmp_path, "one")
    assert ServerTls(TlsFiles(one.cert, one.key)).context.verify_mode == ssl.CERT_NONE
    assert ServerTls(TlsFiles(one.cert, one.key, ca.cert)).context.verify_mode == ssl.CERT_REQUIRED


def test_what_a_clients_tls_argument_means(tmp_path, monkeypatch):
    ca = make_ca(tmp_path, "ca")
    for name in ("GAMETAP_TLS", "GAMETAP_TLS_CA", "GAMETAP_TLS_CERT", "GAMETAP_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert client_tls.resolve(None) is None and client_tls.resolve(False) is None
    assert client_tls.resolve(True) == client_tls.ClientTls()
    assert client_tls.resolve(str(ca.cert)).ca == ca.cert.read_bytes()
    monkeypatch.setenv("GAMETAP_TLS", "1")
    assert client_tls.resolve(None) == client_tls.ClientTls()
    monkeypatch.setenv("GAMETAP_TLS_CA", str(ca.cert))
    assert client_tls.resolve(None).ca == ca.cert.read_bytes()
    assert client_tls.resolve(False) is None  # the caller's word wins
    with pytest.raises(ValueError, match="needs its key"):
        client_tls.ClientTls.from_files(cert=ca.cert)
    member = issue(ca, tmp_path, "member", server=False)
    context = client_tls.ClientTls.from_files(ca=ca.cert, cert=member.cert, key=member.key).ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
