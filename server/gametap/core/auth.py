"""Access tokens with roles. With no tokens configured the daemon is open (it binds
loopback by default); with tokens, every call names one, and the token's role must
reach the role the call needs: observe < play < admin.

Callers present `authorization: Bearer TOKEN` (gRPC metadata or an HTTP header); a
browser's websocket cannot set headers, so HTTP also takes `?token=TOKEN`.
"""
from __future__ import annotations

import difflib
import enum
import hmac
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager

from gametap.core.errors import GametapError, PermissionDenied, Unauthenticated


class Role(enum.IntEnum):
    OBSERVE = 1  # watch matches, read state and the match list
    PLAY = 2     # also: put agents into matches
    ADMIN = 3    # also: create and stop matches, run console commands


# What each gRPC method needs; a method not listed needs nothing (health, reflection).
METHOD_ROLES = {
    "/gametap.v1.MatchService/ListMatches": Role.OBSERVE,
    "/gametap.v1.MatchService/GetMatch": Role.OBSERVE,
    "/gametap.v1.MatchService/DescribeGame": Role.OBSERVE,
    "/gametap.v1.MatchService/CreateMatch": Role.ADMIN,
    "/gametap.v1.MatchService/StopMatch": Role.ADMIN,
    "/gametap.v1.MatchService/RunCommand": Role.ADMIN,
    "/gametap.v1.ArchiveService/GetRecording": Role.OBSERVE,
    "/gametap.v1.ArchiveService/ReadRecording": Role.OBSERVE,
    "/gametap.v1.ArchiveService/DeleteRecording": Role.ADMIN,
    "/gametap.v1.ObserveService/Watch": Role.OBSERVE,
    "/gametap.v1.ObserveService/GetState": Role.OBSERVE,
    "/gametap.v1.AgentService/Play": Role.PLAY,
    "/gametap.v1.AgentService/PlayMany": Role.PLAY,
}
MIN_TOKEN_CHARS = 16
_TOKEN = re.compile(rf"^[A-Za-z0-9._~+/=-]{{{MIN_TOKEN_CHARS},256}}$")
_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)


def parse_tokens(table: dict) -> dict[str, Role]:
    """{token: role name} from the settings file -> {token: Role}; ValueError names the problem."""
    if not isinstance(table, dict):
        raise ValueError("auth.tokens must be a table of token = role")
    tokens = {}
    for token, role in table.items():
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise ValueError("auth.tokens: a token must be 16..256 characters of [A-Za-z0-9._~+/=-]")
        try:
            tokens[token] = Role[str(role).upper()]
        except KeyError:
            shown = repr(role) if len(str(role)) < MIN_TOKEN_CHARS else f"of {len(str(role))} characters (not shown)"
            raise ValueError(f"auth.tokens: role {shown} is not one of observe, play, admin") from None
    return tokens


def key_names(keys: Iterable[str], known: Iterable[str] = ()) -> str:
    """Keys a settings table does not have, for its error message. A key that may be an access token
    pasted in the wrong place (16 characters or more, and not a typo of a known key) is counted,
    never shown: errors reach the terminal, the journal and the log."""
    known, shown, hidden = list(known), [], 0
    for key in sorted(str(k) for k in keys):
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if close:
            shown.append(f"{key!r} (did you mean {close[0]}?)")
        elif len(key) < MIN_TOKEN_CHARS:
            shown.append(repr(key))
        else:
            hidden += 1
    text = ", ".join(shown)
    if hidden:
        what = "1 that may be an access token" if hidden == 1 else f"{hidden} that may be access tokens"
        text += (" and " if shown else "") + f"{what} (not shown; tokens go under [auth.tokens])"
    return text


def bearer(header: str | None) -> str | None:
    """The token of an `authorization: Bearer TOKEN` value."""
    m = _BEARER.match(header.strip()) if header else None
    return m.group(1) if m else None


def http_token(headers, query) -> str | None:
    """The token an HTTP request presents: `Authorization: Bearer TOKEN`, else `?token=TOKEN`."""
    return bearer(headers.get("Authorization")) or query.get("token")


class Gate:
    """Decides whether a presented token may make a call that needs a role, and keeps the open
    streams it let in, so that a reload that takes their token's right away also ends them."""

    def __init__(self, tokens: dict[str, Role]):
        self._tokens = tokens
        self._open: dict[object, tuple[str | None, Role, Callable[[GametapError], None]]] = {}
        self.revoked = 0  # open streams ended by replace(), in all

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    @contextmanager
    def held(self, token: str | None, needed: Role, revoke: Callable[[GametapError], None]):
        """Around a stream that check(token, needed) let in: while it is open, a replace() whose
        tokens no longer allow it calls revoke(error) once (error: Unauthenticated or PermissionDenied)."""
        key = object()
        self._open[key] = (token, needed, revoke)
        try:
            yield
        finally:
            self._open.pop(key, None)

    def replace(self, tokens: dict[str, Role]) -> None:
        """New tokens (SIGHUP): calls from now on are checked against these, and every open
        stream whose token they no longer allow is revoked (a stream opened with no token, too,
        when tokens are turned on)."""
        self._tokens = dict(tokens)
        for key, (token, needed, revoke) in list(self._open.items()):
            try:
                self.check(token, needed)
            except GametapError as e:
                del self._open[key]
                self.revoked += 1
                revoke(type(e)(f"{e} (the daemon's tokens were reloaded: this stream is closed)"))

    def role_of(self, token: str) -> Role | None:
        """The token's role; every configured token is compared, in constant time."""
        found = None
        for known, role in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode("utf-8", "surrogateescape")):  # any bytes a header held
                found = role
        return found

    def check(self, token: str | None, needed: Role | None) -> None:
        if not self.enabled or needed is None:
            return
        if token is None:
            raise Unauthenticated("this daemon needs a token: send `authorization: Bearer TOKEN`")
        role = self.role_of(token)
        if role is None:
            raise Unauthenticated("unknown token")
        if role < needed:
            raise PermissionDenied(f"this needs the {needed.name.lower()} role; the token has {role.name.lower()}")
