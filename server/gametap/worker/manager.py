"""MatchManager: creates, finds and stops the matches of one process (a worker, or a test's
daemon-less host); each match is its own game process. The daemon's view across workers
is gametap.daemon.pool.WorkerPool."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gametap.core.auth import Gate
from gametap.core.errors import NotFound
from gametap.core.game import Game
from gametap.core.ids import new_match_id
from gametap.core.limits import Limits
from gametap.core.settings import Settings
from gametap.v1 import match_pb2 as mpb
from gametap.worker.game_ports import GamePorts
from gametap.worker.match import Match

log = logging.getLogger(__name__)


class MatchManager:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._matches: dict[str, Match] = {}
        self.game: Game = settings.make_game()
        self.home_cpu: int | None = None  # a pinned worker's core (gametap.worker.process.pin_to_core)
        self.all_cpus: set[int] = set()
        self._stepped: set[Match] = set()  # matches agents step now
        self._listeners: list[Callable[[str, Match], None]] = []
        self.game_ports = GamePorts(settings.game_bind, settings.game_ports, settings.game_ports_text)
        self.limits = Limits(settings.limits)  # this worker's streams
        self.gate = Gate(settings.tokens)       # this worker's token check (gRPC and websocket)

    def add_listener(self, listener: Callable[[str, Match], None]) -> None:
        """listener("created" | "changed" | "removed", match) hears of matches coming, changing
        status (RUNNING, ended) and going."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, Match], None]) -> None:
        self._listeners.remove(listener)

    def _tell(self, what: str, match: Match) -> None:
        for listener in list(self._listeners):
            listener(what, match)

    async def create(self, config: mpb.MatchConfig, match_id: str | None = None) -> Match:
        """Validates config (InvalidArgument names the field) and starts the game."""
        validated = self.game.validate_config(config)
        match = Match(match_id or new_match_id(), validated, self.settings, self.game)
        if validated.clock == mpb.REALTIME:
            match.udp_port = self.game_ports.take(match)  # ResourceExhausted when the range is used up
        match.on_change = lambda m: self._tell("changed", m)
        match.home_cpu, match.all_cpus = self.home_cpu, self.all_cpus
        match.limits = self.limits
        match.on_stepping = self.agents_stepping
        self._matches[match.id] = match
        self._tell("created", match)
        try:
            await match.start()
        except Exception as e:
            log.exception("match %s: cannot start the game", match.id)
            match.fail_to_start(f"cannot start the game: {e}")
        self._forget_old()
        log.debug("match %s: %s on %s, %d bots, seed %d", match.id, mpb.Clock.Name(validated.clock),
                 validated.map, len(validated.bots), validated.seed)
        return match

    def agents_stepping(self, match: Match, stepping: bool) -> None:
        """Where the games agents step run. The only such game of a pinned worker runs on the
        worker's core: each step passes game -> worker -> game, and on a VM a wake-up on another
        core costs more than the step's work. Two or more of them run anywhere: kept on one core
        with the worker they queue behind each other (measured with 8 matches on 2 workers:
        about 3,000 agent steps/s kept home, 5,600 free)."""
        (self._stepped.add if stepping else self._stepped.discard)(match)
        self._stepped = {m for m in self._stepped if not m.is_ended}
        alone = len(self._stepped) == 1
        for m in self._stepped:
            m.keep_game_home(alone)
        if not stepping:
            match.keep_game_home(False)

    def get(self, match_id: str) -> Match:
        try:
            return self._matches[match_id]
        except KeyError:
            raise NotFound(f"no match with id {match_id[:64]!r}") from None

    def list(self) -> list[Match]:
        return list(self._matches.values())

    async def stop(self, match_id: str) -> Match:
        match = self.get(match_id)
        await match.stop()
        return match

    async def shutdown(self) -> None:
        """Stops every running match (in parallel) and waits for their games to exit."""
        running = [m for m in self._matches.values() if not m.is_ended]
        await asyncio.gather(*(m.stop() for m in running), return_exceptions=True)

    def _forget_old(self) -> None:
        ended = [m for m in self._matches.values() if m.is_ended]
        for m in ended[: max(0, len(ended) - self.settings.max_finished_matches)]:
            del self._matches[m.id]
            self._tell("removed", m)
