"""The daemon's HTTP side: /healthz and /api/matches (JSON)."""
from __future__ import annotations

from aiohttp import web
from google.protobuf import json_format

from gametap.manager import MatchManager

MANAGER = web.AppKey("manager", MatchManager)


def build_app(manager: MatchManager) -> web.Application:
    """An application with its routes and no socket bound (no side effects)."""
    app = web.Application()
    app[MANAGER] = manager
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/matches", list_matches)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def list_matches(request: web.Request) -> web.Response:
    matches = [json_format.MessageToDict(m.to_proto()) for m in request.app[MANAGER].list()]
    return web.json_response({"matches": matches})
