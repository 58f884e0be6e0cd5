"""Provenance: what a recording's header says about where the match came from.

A result is only as good as knowing which code, game and settings produced it: the
header names gametap's version and the git commit of the checkout it runs from, the
host, the whole config with its seed, and the game's own facts (for OpenArena the map
and a checksum of the pk3 archive that holds it, from gametap.game.Game.provenance).
The game module's path and build-id arrive later, in the recording's module record,
and the end (time, status, failure) in its end record.

The header also names the host's CPU. The same seed gives the same game on one machine, but it
gave a different game on another VM of this project: glibc picks its maths routines by CPU
feature, and the game's floating point follows. So `gametap diff` (and with it `gametap
reproduce`) says when two recordings that differ were made on different CPUs.
"""
from __future__ import annotations

import functools
import hashlib
import platform
import re
import socket
import subprocess
import time
from pathlib import Path

from google.protobuf import json_format

import gametap
from gametap.v1 import match_pb2 as mpb

FORMAT = 2  # of the header map; bumps with gametap.recording.VERSION
CPU_FEATURES = ("fma", "avx2", "avx512f")  # the flags glibc's libm chooses its code paths by (x86-64)


@functools.lru_cache(maxsize=1)
def source_commit() -> str:
    """The git commit of the checkout gametap runs from ("+dirty" if it has local changes),
    or "unknown" (an installed wheel, no git)."""
    here = Path(gametap.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head or "unknown"


@functools.lru_cache(maxsize=1)
def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """'MODEL; FEATURES' of this host's CPU, e.g. 'Intel(R) Xeon(R) Processor; fma avx2 avx512f'."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    have = set(flags.group(1).split()) if flags else set()
    name = model.group(1).strip() if model else platform.machine()
    return f"{name}; {' '.join(f for f in CPU_FEATURES if f in have)}".rstrip("; ")


@functools.lru_cache(maxsize=16)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per version of it (size and mtime) in this process."""
    st = path.stat()
    return _file_sha256(path, st.st_size, st.st_mtime_ns)


def header(match_id: str, config: mpb.MatchConfig, game_facts: dict) -> dict:
    """The header map of a new match's recording."""
    return {
        "format": FORMAT,
        "match_id": match_id,
        "started": time.time(),
        "config": json_format.MessageToJson(config, indent=None),
        "seed": config.seed,
        "gametap_version": gametap.__version__,
        "commit": source_commit(),
        "host": socket.gethostname(),
        "cpu": cpu(),
        **game_facts,
    }
