"""CPU time and memory of processes, read from /proc (for the benchmarks' per-process figures)."""
from __future__ import annotations

import os
import time

from gametap.testing import footprint

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process (all its threads) has used."""
    fields = open(f"/proc/{pid}/stat").read().split(")")[-1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int) -> float:
    return footprint(pid).rss_kb / 1024


class CpuMeter:
    """CPU seconds used by named processes (and this one, "client") between start() and stop()."""

    def __init__(self, **pids: int):
        self.pids = pids
        self.used: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._t0 = {name: cpu_s(pid) for name, pid in self.pids.items()}
        self._self0 = time.process_time()
        return self

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_s(pid) - self._t0[name] for name, pid in self.pids.items()}
        self.used["client"] = time.process_time() - self._self0
        return self.used
