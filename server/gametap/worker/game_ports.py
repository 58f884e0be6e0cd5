"""The UDP ports REALTIME games listen on for human clients.

With `[server] game_ports = "27960-27999"` every game gets a port from that range, so an
operator can open a known range in a firewall; each worker takes its own share of the range
(worker i: every workers-th port from the i-th), so two workers never pick the same one.
Without a range, any free port."""
from __future__ import annotations

import socket

from gametap.core.errors import ResourceExhausted


class GamePorts:
    def __init__(self, ip: str, ports: tuple[int, ...] = (), described: str = ""):
        """ports: the ones this process may use (empty: any free port); described: the
        setting as the operator wrote it, for errors."""
        self.ip = ip
        self.ports = ports
        self.described = described
        self._held: dict[int, object] = {}  # port -> the match that has it (its .is_ended frees it)

    def take(self, owner) -> int:
        """A free port for owner (a Match); ResourceExhausted when the range has none left."""
        if not self.ports:
            return _bind_test(self.ip, 0)
        for port in self.ports:
            holder = self._held.get(port)
            if holder is not None and not holder.is_ended:
                continue
            if _bind_test(self.ip, port):
                self._held[port] = owner
                return port
        raise ResourceExhausted(f"no free UDP port for a REALTIME game in [server] game_ports = "
                                f"\"{self.described}\" ({len(self.ports)} of them for this worker, all in use)")


def _bind_test(ip: str, port: int) -> int:
    """The port, if it can be bound on ip now (0 asks the kernel for any); 0 if it cannot."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return 0
        return s.getsockname()[1]
