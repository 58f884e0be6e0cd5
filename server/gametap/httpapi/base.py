"""What every gametap HTTP app shares: /healthz, /ws (Foxglove's protocol over a match source)
and the token check. The daemon's app is gametap.daemon.http_app's, a worker's
gametap.worker.http_app's.

With tokens configured (gametap.core.auth), every path but OPEN_PATHS and OPEN_PREFIXES needs a
token with the observe role, as `Authorization: Bearer TOKEN` or `?token=TOKEN`.
"""
from __future__ import annotations

from aiohttp import web

from gametap.core import metrics
from gametap.core.auth import Gate, Role, http_token
from gametap.core.errors import GametapError
from gametap.httpapi.foxglove import FoxgloveServer

FOXGLOVE = web.AppKey("foxglove", FoxgloveServer)
GATE = web.AppKey("gate", Gate)
OPEN_PATHS = ("/", "/healthz")
OPEN_PREFIXES = ("/static/", "/vendor/")


def base_app(gate: Gate, foxglove: FoxgloveServer) -> web.Application:
    """An app with /healthz and /ws, behind the token check (no socket bound)."""
    app = web.Application(middlewares=[require_token])
    metrics.count_websockets(foxglove)
    app[GATE] = gate
    app[FOXGLOVE] = foxglove
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ws", foxglove.handle)
    app.on_shutdown.append(_close_websockets)
    return app


@web.middleware
async def require_token(request: web.Request, handler):
    gate = request.app[GATE]
    if gate.enabled and request.path not in OPEN_PATHS and not request.path.startswith(OPEN_PREFIXES):
        token = http_token(request.headers, request.query)
        try:
            gate.check(token, Role.OBSERVE)
        except GametapError as e:
            raise web.HTTPUnauthorized(text=f"{e}\n", headers={"WWW-Authenticate": "Bearer"}) from None
    return await handler(request)


async def _close_websockets(app: web.Application) -> None:
    await app[FOXGLOVE].shutdown()


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")
