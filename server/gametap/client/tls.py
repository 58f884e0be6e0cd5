"""TLS on the client side: how a client checks a daemon's certificate, and shows its own
when the daemon asks for one (`[server] tls_client_ca`).

`Client(address, tls=...)` takes a ClientTls, a CA file's path, True (the system's CAs) or
False (plain); left out, it comes from the environment: $GAMETAP_TLS_CA (a PEM file to
trust), $GAMETAP_TLS_CERT and $GAMETAP_TLS_KEY (the client's own), or $GAMETAP_TLS=1."""
from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True)
class ClientTls:
    ca: bytes | None = None    # PEM: the CA that signed the daemon's certificate (or that certificate); None: the system's
    cert: bytes | None = None  # PEM: this client's certificate chain, for a daemon that asks for one
    key: bytes | None = None
    server_name: str | None = None  # the name to check the certificate against, if not the address's host

    @classmethod
    def from_files(cls, ca: str | Path | None = None, cert: str | Path | None = None,
                   key: str | Path | None = None, server_name: str | None = None) -> ClientTls:
        if (cert is None) != (key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        return cls(*(Path(p).expanduser().read_bytes() if p else None for p in (ca, cert, key)), server_name)

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)

    def grpc_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []

    def ssl_context(self) -> ssl.SSLContext:
        """The same trust for HTTP and websockets (aiohttp, websockets, urllib)."""
        context = ssl.create_default_context(cadata=self.ca.decode("ascii") if self.ca else None)
        if self.cert:
            _load_chain(context, self.cert, self.key)
        return context


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl loads a chain from files only: a private temporary directory holds them for the call.
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c.pem").write_bytes(cert)
        (Path(d) / "k.pem").write_bytes(key)
        context.load_cert_chain(Path(d) / "c.pem", Path(d) / "k.pem")


def resolve(tls: ClientTls | str | Path | bool | None) -> ClientTls | None:
    """What a Client's tls argument means (see the module's text); None: a plain channel."""
    if isinstance(tls, ClientTls):
        return tls
    if tls is False:
        return None
    if tls is True:
        return ClientTls()
    if tls is not None:
        return ClientTls.from_files(ca=tls)
    ca, cert, key = (os.environ.get(f"GAMETAP_TLS_{name}") or None for name in ("CA", "CERT", "KEY"))
    if ca or cert or key:
        return ClientTls.from_files(ca=ca, cert=cert, key=key)
    return ClientTls() if os.environ.get("GAMETAP_TLS", "") not in ("", "0") else None
