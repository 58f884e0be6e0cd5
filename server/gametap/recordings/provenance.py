"""Provenance: what a recording's header says about where the match came from.

A result is only as good as knowing which code, game and settings produced it: the
header names gametap's version and the git commit of the checkout it runs from, the
host, the whole config with its seed, and the game's own facts (for OpenArena the map
and a checksum of the pk3 archive that holds it, from gametap.core.game.Game.provenance).
The game module's path and build-id arrive later, in the recording's module record,
and the end (time, status, failure) in its end record.

It also names what under the game could decide its course on another machine: the host's CPU
(model and the features glibc picks its maths routines by), the C library's version and the
kernel, and from the game the build-ids of the engine and the preloaded library and the
versions of its packages. When two recordings of one seed differ, `differences` lists which of
these differ between them (gametap diff, reproduce, the golden-state test): what the
provenance shows, not a cause.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import socket
import subprocess
import time
from pathlib import Path

from google.protobuf import json_format

import gametap
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb

FORMAT = 2  # of the header map; bumps with gametap.recordings.recording.VERSION
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


def glibc() -> str:
    """The C library's version ("2.36"), or "" where it is not glibc."""
    try:
        name, _, version = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")
    except (ValueError, OSError):
        return ""
    return version if name == "glibc" else ""


@functools.lru_cache(maxsize=4)
def debian_packages(names: tuple[str, ...]) -> dict[str, str]:
    """{package: version} of those of `names` that dpkg has installed ({} without dpkg)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Status}\n", *names],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    rows = (line.split("\t") for line in out.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 3 and row[2] == "installed"}


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
        "glibc": glibc(),
        "kernel": platform.release(),
        **game_facts,
    }


def differences(a: arpb.Provenance, b: arpb.Provenance) -> list[str]:
    """What differs between two recordings' machines and software, each as 'what: A | B'. A fact
    that one of them does not record (an older recording) is not counted as a difference."""
    facts = [("gametap commit", a.commit, b.commit), ("cpu", a.cpu, b.cpu),
             ("cpu estimates (rsqrtss, rcpss)", a.cpu_estimates, b.cpu_estimates), ("glibc", a.glibc, b.glibc),
             ("kernel", a.kernel, b.kernel), ("engine build-id", a.engine.build_id, b.engine.build_id),
             ("library build-id", a.library.build_id, b.library.build_id),
             ("game module build-id", a.module.build_id, b.module.build_id),
             ("map pk3 sha256", a.map_pk3_sha256, b.map_pk3_sha256)]
    facts += [(f"package {name}", a.packages.get(name, ""), b.packages.get(name, ""))
              for name in sorted(set(a.packages) | set(b.packages))]
    return [f"{what}: {x} | {y}" for what, x, y in facts if x and y and x != y]
