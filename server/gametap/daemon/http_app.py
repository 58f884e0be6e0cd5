"""The daemon's HTTP app: the viewer, the JSON API, map geometry, metrics and the websocket.

    /                   the viewer (web/index.html and its modules under /static/)
    /vendor/...         the viewer's npm dependencies (protobufjs), from web/node_modules
    /api/matches        every match, as JSON (each with its placement: the worker's ports)
    /api/maps/{name}    a map's top-down geometry (the game's map_geometry), as JSON
    /api/schema         the FileDescriptorSet (base64) of WorldUpdate, for decoding what follows
    /api/matches/{id}/timeline   a recorded match's frames, events, kills and scores over time (JSON);
                        for a damaged recording, up to the damage, and `problem` says what and where
    /api/matches/{id}/updates?from_frame=F&frames=N   the recorded updates from frame F: a keyframe,
                        then up to N deltas, each as [u32 little-endian length][WorldUpdate bytes];
                        they stop at a damaged record (X-Recording-Problem says why), and past it
                        the answer is 422 with that problem
    /healthz            "ok"
    /metrics            Prometheus text format
    /ws                 Foxglove WebSocket protocol over every match (gametap.httpapi.foxglove),
                        its updates passed on from the workers' Watch streams
With tokens configured (gametap.core.auth), /api/, /metrics and /ws need one with the observe
role, as `Authorization: Bearer TOKEN` or `?token=TOKEN`; the viewer's own files stay open.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from pathlib import Path

from aiohttp import web
from google.protobuf import json_format
from prometheus_client import CONTENT_TYPE_LATEST

from gametap.core import metrics
from gametap.core.errors import GametapError
from gametap.daemon.http_sources import WorkerMatches
from gametap.daemon.pool import ENDED, WorkerPool
from gametap.httpapi.base import base_app
from gametap.httpapi.foxglove import SCHEMA_NAME, FoxgloveServer, file_descriptor_set
from gametap.recordings.paths import recording_on_disk
from gametap.recordings.replay import Replay
from gametap.recordings.timeline import Timeline

POOL = web.AppKey("pool", WorkerPool)
TIMELINES = web.AppKey("timelines", dict)  # recording path -> Timeline, the most recently used last
MAX_TIMELINES = 16
MAX_REPLAY_FRAMES = 5000
WEB_DIR = web.AppKey("web_dir", Path)
_MAP_NAME = re.compile(r"^[a-z0-9_\-]{1,64}$")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() also takes spaces, signs, _ and other scripts' digits
VENDOR = {  # URL name -> file under web/node_modules
    "protobuf.min.js": "protobufjs/dist/protobuf.min.js",
    "descriptor.json": "protobufjs/google/protobuf/descriptor.json",
}


def build_app(pool: WorkerPool, web_dir: Path) -> web.Application:
    """The daemon's application with its routes and no socket bound (no side effects)."""
    app = base_app(pool.gate, FoxgloveServer(WorkerMatches(pool), pool.limits, pool.gate))
    app[POOL] = pool
    app[WEB_DIR] = web_dir
    app[TIMELINES] = {}
    app.router.add_get("/", index)
    app.router.add_static("/static/", web_dir / "static", follow_symlinks=False)
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/matches", list_matches)
    app.router.add_get("/api/maps/{name}", map_geometry)
    app.router.add_get("/api/schema", schema)
    app.router.add_get("/api/matches/{id}/timeline", timeline)
    app.router.add_get("/api/matches/{id}/updates", recorded_updates)
    return app


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[WEB_DIR] / "index.html", headers={"Cache-Control": "no-cache"})


async def vendor(request: web.Request) -> web.FileResponse:
    relative = VENDOR.get(request.match_info["name"])
    path = request.app[WEB_DIR] / "node_modules" / relative if relative else None
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text="no such file (is the viewer installed? run `make setup`)\n")
    return web.FileResponse(path, headers={"Cache-Control": "max-age=3600"})


async def list_matches(request: web.Request) -> web.Response:
    matches = [json_format.MessageToDict(m) for m in await request.app[POOL].list()]
    return web.json_response({"matches": matches})


async def schema(request: web.Request) -> web.Response:
    return web.json_response({"schemaName": SCHEMA_NAME, "schema": base64.b64encode(file_descriptor_set()).decode()},
                             headers={"Cache-Control": "no-cache"})


def _recording(request: web.Request) -> Path:
    try:
        return recording_on_disk(request.app[POOL].settings.state_dir, request.match_info["id"])
    except GametapError as e:
        raise web.HTTPNotFound(text=f"{e}\n") from None


def query_number(request: web.Request, name: str, default: int) -> int:
    """A whole number from the query string (ASCII digits, nothing else); 400 naming the parameter."""
    text = request.query.get(name)
    if text is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(text):
        raise web.HTTPBadRequest(text=f"{name}={text[:40]!r}: a whole number (the digits 0-9 only) is needed\n")
    return int(text)


async def timeline(request: web.Request) -> web.Response:
    match_id = request.match_info["id"]
    try:
        path = _recording(request)
    except web.HTTPNotFound:
        try:  # a match that is starting has no recording yet: its timeline is empty so far
            request.app[POOL].record(match_id)
        except GametapError:
            raise web.HTTPNotFound(text=f"no match {match_id[:64]!r}\n") from None
        return web.json_response(Timeline.EMPTY)
    try:
        ended = request.app[POOL].record(match_id).status in ENDED
    except GametapError:
        ended = True  # a recording on disk of a match the daemon does not know: none of this run's
    timelines = request.app[TIMELINES]
    t = timelines.pop(path, None) or Timeline(path)
    timelines[path] = t  # the most recently used last
    while len(timelines) > MAX_TIMELINES:
        timelines.pop(next(iter(timelines)))
    try:
        await asyncio.to_thread(t.update, ended)
    except OSError as e:
        raise web.HTTPUnprocessableEntity(text=f"the recording cannot be read: {e}\n") from e
    response = web.json_response(t.to_json())
    response.enable_compression()
    return response


async def recorded_updates(request: web.Request) -> web.StreamResponse:
    path = _recording(request)
    start, frames = query_number(request, "from_frame", 0), query_number(request, "frames", 1000)
    if not 1 <= frames <= MAX_REPLAY_FRAMES:
        raise web.HTTPBadRequest(text=f"frames={frames}: 1..{MAX_REPLAY_FRAMES} allowed\n")
    replay = Replay(path, start, until_frame=start + frames)
    updates, problem = await asyncio.to_thread(_replayed, replay)
    if problem is not None and not updates:  # OUT_OF_RANGE past the end, DATA_LOSS past a damaged record
        raise web.HTTPUnprocessableEntity(text=f"{problem}\n")
    headers = {"X-First-Frame": str(replay.first_frame or 0), "X-Last-Frame": str(replay.last_frame or 0)}
    if problem is not None:
        headers["X-Recording-Problem"] = str(problem).encode("ascii", "replace").decode().replace("\n", " ")
    body = b"".join(struct.pack("<I", len(u)) + u for u in updates)
    response = web.Response(body=body, content_type="application/octet-stream", headers=headers)
    response.enable_compression()
    return response


def _replayed(replay: Replay) -> tuple[list[bytes], GametapError | None]:
    """The updates a replay gives, and the error that stopped it (None: it went to its end)."""
    updates = []
    try:
        for batch in replay.batches(4096):
            updates += batch
    except GametapError as e:
        return updates, e
    return updates, None


async def map_geometry(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    game = request.app[POOL].game
    if not _MAP_NAME.match(name):
        raise web.HTTPNotFound(text=f"no map {name[:64]!r}\n")
    try:  # computed once per map, in a thread: it takes tens of milliseconds
        geometry = await asyncio.to_thread(game.map_geometry, name)
    except ValueError as e:  # the game cannot read the map's file
        raise web.HTTPUnprocessableEntity(text=f"map {name}: {e}\n") from e
    if geometry is None:
        raise web.HTTPNotFound(text=f"no map {name[:64]!r}\n")
    response = web.Response(text=json.dumps(geometry, separators=(",", ":")), content_type="application/json",
                            headers={"Cache-Control": "max-age=3600"})
    response.enable_compression()
    return response


async def prometheus(request: web.Request) -> web.Response:
    """Every process's metrics in one exposition (gametap.core.metrics), labelled by process."""
    pool = request.app[POOL]
    matches = await pool.list()
    texts = [("daemon", metrics.own_text() + metrics.match_statuses(matches))]
    texts += [(f"worker-{w['worker']}", w["text"]) for w in await pool.metrics()]
    body = await asyncio.to_thread(metrics.merged, texts)  # parsing a few thousand lines: off the loop
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
