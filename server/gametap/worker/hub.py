"""Hub: fans a match's updates out to its subscribers without ever waiting for them.

Each subscriber has a bounded queue. One that falls a full queue behind is
dropped to "lagging": its queue is cleared and it receives nothing until the
next keyframe, from which it continues (the drop is counted). The producer's
cost per update is O(subscribers) appends, never a wait.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

DEFAULT_QUEUE_LIMIT = 4096


class Subscriber:
    def __init__(self, hub: Hub, first: bytes, limit: int):
        self._hub = hub
        self._queue: deque[bytes] = deque([first])
        self._limit = limit
        self._waiter: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lagging = False
        self.resyncs = 0
        self.closed = False

    def _push(self, delta: bytes, keyframe: bytes | None) -> None:
        if self.lagging:
            if keyframe is None:
                self._hub.dropped += 1
                return
            self.lagging = False
            self._queue.append(keyframe)
        elif len(self._queue) >= self._limit:
            self.lagging = True
            self.resyncs += 1
            self._hub.resyncs += 1
            self._hub.dropped += len(self._queue) + 1
            self._queue.clear()
            return
        else:
            self._queue.append(delta)
        self._wake()

    def _push_batch(self, deltas: list[bytes], keyframes: dict[int, bytes]) -> None:
        if not self.lagging and len(self._queue) + len(deltas) <= self._limit:
            self._queue.extend(deltas)  # the common case: one call for the whole batch
            self._wake()
            return
        for i, delta in enumerate(deltas):
            self._push(delta, keyframes.get(i))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close(self) -> None:
        self.closed = True
        self._wake()

    async def next_batch(self, max_items: int = 1) -> list[bytes] | None:
        """Up to max_items consecutive updates; waits for at least one. None once
        the hub is closed and everything queued was delivered."""
        while not self._queue:
            if self.closed:
                return None
            if self._loop is None:  # once: asking for the loop costs a system call
                self._loop = asyncio.get_running_loop()
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        n = min(max_items, len(self._queue))
        return [self._queue.popleft() for _ in range(n)]

    def unsubscribe(self) -> None:
        self._hub._subscribers.discard(self)
        self._close()


class Hub:
    def __init__(self, keyframe_source: Callable[[], bytes], queue_limit: int = DEFAULT_QUEUE_LIMIT):
        """keyframe_source() returns a serialized keyframe of the current frame: every
        new subscriber starts from one."""
        self._keyframe_source = keyframe_source
        self._queue_limit = queue_limit
        self._subscribers: set[Subscriber] = set()
        self.closed = False
        self.dropped = 0  # updates lagging subscribers skipped (they were resynced at a keyframe)
        self.resyncs = 0  # times a subscriber fell behind and was restarted at a keyframe

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, queue_limit: int | None = None) -> Subscriber:
        sub = Subscriber(self, self._keyframe_source(), queue_limit or self._queue_limit)
        if self.closed:
            sub._close()
        else:
            self._subscribers.add(sub)
        return sub

    def publish(self, delta: bytes, keyframe: bytes | None = None) -> None:
        for sub in self._subscribers:
            sub._push(delta, keyframe)

    def publish_batch(self, deltas: list[bytes], keyframes: list[tuple[int, bytes]]) -> None:
        """Consecutive updates at once; keyframes: (index in deltas, keyframe of that frame)."""
        if self._subscribers:
            by_index = dict(keyframes)
            for sub in self._subscribers:
                sub._push_batch(deltas, by_index)

    def close(self) -> None:
        """No more updates: subscribers drain their queues, then see the end. One that
        was lagging first gets a keyframe of the final state, so that it ends up current."""
        self.closed = True
        final = None
        for sub in self._subscribers:
            if sub.lagging:
                final = final or self._keyframe_source()
                sub.lagging = False
                sub._queue.append(final)
            sub._close()
        self._subscribers.clear()
