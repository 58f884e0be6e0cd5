"""Claims: which new player in the game belongs to which agent slot.

The daemon asks the game for an agent's player by name (an addbot), and the game adds the
players in the order asked. So each name has a queue of requests, oldest first, and a player
that appears with that name goes to the oldest request it can be for: one made while the
player was not in the game yet, and not given to another request already. A request whose
stream went away before its player came keeps its place in the queue: its player, when it
comes, is to be kicked, not handed to a later request of the same name (or left as a ghost).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from gametap.core.game import Slot


@dataclass(eq=False)
class Request:
    slot: Slot | None        # None: its stream is gone; its player is unwanted
    present: frozenset[int]  # the players in the game when it was asked
    until: float             # after this (loop time) it is dropped: the game never added the player


class Claims:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Request]] = {}

    def ask(self, slot: Slot, present: Iterable[int], until: float) -> None:
        self._queues.setdefault(slot.name, deque()).append(Request(slot, frozenset(present), until))

    def withdraw(self, slots: Iterable[Slot]) -> None:
        """These slots' streams are gone: their players are unwanted when they come."""
        gone = set(map(id, slots))
        for queue in self._queues.values():
            for request in queue:
                if request.slot is not None and id(request.slot) in gone:
                    request.slot = None

    @property
    def pending(self) -> bool:
        return bool(self._queues)

    def match(self, players: Iterable[tuple[int, str, bool]], taken: set[int], now: float) -> tuple[list[Slot], list[int]]:
        """Hands new players to requests: (slots that got theirs (slot.client set), unwanted
        clients to kick). taken: clients that are somebody's already (or being kicked)."""
        got, unwanted = [], []
        for client, name, _ in players:
            queue = self._queues.get(name)
            if queue is None or client in taken:
                continue
            while queue and queue[0].until < now:
                queue.popleft()  # the game never added that one
            if not queue or client in queue[0].present:
                continue
            request = queue.popleft()
            taken.add(client)
            if request.slot is None:
                unwanted.append(client)
            else:
                request.slot.client = client
                got.append(request.slot)
        for name in [n for n, q in self._queues.items() if not q or all(r.until < now for r in q)]:
            del self._queues[name]
        return got, unwanted
