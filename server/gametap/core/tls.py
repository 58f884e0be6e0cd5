"""The daemon's own TLS: `[server] tls_cert` / `tls_key` (PEM files), and optionally
`tls_client_ca`, which then asks every client for a certificate that CA signed.

The daemon and every worker serve each of their listening ports (gRPC, HTTP, websockets)
with the same certificate, so a client that trusts it once can follow a match to its
worker. SIGHUP reads the certificate and key again: connections made after it get the new
ones, open connections carry on. (The client CA is read at start only.)
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsError(Exception):
    pass


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, key, client CA) as PEM bytes; TlsError naming a file that is not PEM."""
        out = []
        for what, path in (("tls_cert", self.cert), ("tls_key", self.key), ("tls_client_ca", self.client_ca)):
            if path is None:
                out.append(None)
                continue
            try:
                data = path.read_bytes()
            except OSError as e:
                raise TlsError(f"[server] {what} = {str(path)!r}: {e.strerror}") from None
            if b"-----BEGIN " not in data:
                raise TlsError(f"[server] {what} = {str(path)!r} is not a PEM file")
            out.append(data)
        return out[0], out[1], out[2]


class ServerTls:
    """One process's certificate, for grpc (dynamic credentials) and for aiohttp (an SSLContext).
    Both are made once and keep serving; reload() swaps what they hand to new connections."""

    def __init__(self, files: TlsFiles):
        self.files = files
        cert, key, client_ca = files.read()
        self._client_ca = client_ca
        self._next_grpc_config: grpc.ServerCertificateConfiguration | None = None
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._load_context(files)
        if client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
        self._initial_grpc_config = self._grpc_config(cert, key)

    def _grpc_config(self, cert: bytes, key: bytes) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=self._client_ca)

    def _load_context(self, files: TlsFiles) -> None:
        try:
            self.context.load_cert_chain(files.cert, files.key)
        except ssl.SSLError as e:  # e.g. a key that is not the certificate's
            raise TlsError(f"[server] tls_cert {str(files.cert)!r} and tls_key {str(files.key)!r}: {e.reason or e}") from None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        # grpc asks _fetch before each handshake: None keeps the configuration it has.
        return grpc.dynamic_ssl_server_credentials(self._initial_grpc_config, self._fetch,
                                                   require_client_authentication=self._client_ca is not None)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        config, self._next_grpc_config = self._next_grpc_config, None
        return config

    def reload(self, files: TlsFiles) -> None:
        """New certificate and key files (or the same files, rewritten); TlsError leaves the old ones."""
        cert, key, _ = files.read()
        self._load_context(files)  # checks the pair before grpc is given it
        self._next_grpc_config = self._grpc_config(cert, key)
        self.files = TlsFiles(files.cert, files.key, self.files.client_ca)


def server_tls(files: TlsFiles | None) -> ServerTls | None:
    return ServerTls(files) if files is not None else None


def add_port(server: grpc.aio.Server, address: str, tls: ServerTls | None) -> int:
    """Listens on address, over TLS when the daemon has a certificate; the port (0: not bound)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.grpc_credentials())
