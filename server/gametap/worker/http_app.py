"""A worker's HTTP app: /healthz and /ws over its own matches (the viewer connects here)."""
from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gametap.core.errors import NotFound
from gametap.httpapi.base import base_app
from gametap.httpapi.foxglove import FoxgloveServer
from gametap.worker.hub import Subscriber
from gametap.worker.manager import MatchManager


def build_worker_app(manager: MatchManager) -> web.Application:
    """A worker's application (no socket bound)."""
    return base_app(manager.gate, FoxgloveServer(LocalMatches(manager), manager.limits, manager.gate))


class LocalMatches:
    def __init__(self, manager: MatchManager):
        self._manager = manager

    def match_ids(self) -> list[str]:
        return [m.id for m in self._manager.list()]

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        self._manager.add_listener(lambda what, match: listener(what, match.id))

    def subscribe(self, match_id: str, queue_limit: int) -> Subscriber | None:
        try:
            return self._manager.get(match_id).hub.subscribe(queue_limit)
        except NotFound:
            return None
