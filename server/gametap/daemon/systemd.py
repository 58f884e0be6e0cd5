"""systemd's service protocol (sd_notify) over its plain socket: READY=1 once the daemon serves,
WATCHDOG=1 from the event loop (a wedged loop stops the pings, and systemd restarts the daemon),
STATUS= lines (at READY, at every ping and soon after every match change), STOPPING=1 on shutdown. Not run by systemd (no NOTIFY_SOCKET), it does nothing."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

STATUS_EVERY_S = 10.0  # STATUS lines when there is no watchdog to ping
STATUS_TIMEOUT_S = 5.0  # a status that takes longer is skipped: the pings must not wait for it
STATUS_GAP_S = 1.0  # at most one STATUS per second for changes


class Notifier:
    def __init__(self, env: Mapping[str, str] = os.environ):
        path = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + path[1:] if path.startswith("@") else path  # "@name": the abstract namespace
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if path else None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        mine = not pid or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as e:  # systemd gone or restarting: the daemon goes on
            log.debug("sd_notify %s: %s", fields, e)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping: ending every game")

    async def keep_alive(self, status: Callable[[], Awaitable[str]], changed: asyncio.Event | None = None) -> None:
        """Pings the watchdog at half its interval and updates STATUS then, and soon after each time
        `changed` is set (a match started or ended), until cancelled."""
        if self._sock is None:
            return
        every = self.watchdog_s / 2 if self.watchdog_s else STATUS_EVERY_S
        await asyncio.gather(self._ping(status, every), *([self._follow(status, changed, every)] if changed else []))

    async def _ping(self, status: Callable[[], Awaitable[str]], every: float) -> None:
        while True:
            if self.watchdog_s:
                self.send("WATCHDOG=1")
            await self._send_status(status, every)
            await asyncio.sleep(every)

    async def _follow(self, status: Callable[[], Awaitable[str]], changed: asyncio.Event, every: float) -> None:
        while True:
            await changed.wait()
            changed.clear()
            await self._send_status(status, every)
            await asyncio.sleep(STATUS_GAP_S)  # a burst of changes (matches churned by a vector env): one STATUS

    async def _send_status(self, status: Callable[[], Awaitable[str]], every: float) -> None:
        try:
            self.send(f"STATUS={await asyncio.wait_for(status(), min(STATUS_TIMEOUT_S, every))}")
        except Exception as e:  # noqa: BLE001 - a status (or its timeout) is never worth a missed ping
            log.debug("service status: %s", e)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
