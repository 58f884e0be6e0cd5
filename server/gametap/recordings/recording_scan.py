"""Reading a recording through once, for what it says about its match and whether it is whole.

`scan(path)` reads every record and checks its checksum (the archive's index runs it over
every recording at the daemon's start, and `gametap recordings verify` shows what it found);
it decodes the header and the agents', module and end records in full, and of each update
its kind and frame. It stops at the first record it cannot read and says what and where: a
torn last record (the writer died mid-write: no damage), a corrupt one, one of no known kind.
The header's fields are checked here, once, against HEADER_TYPES: a field of another type is
a problem of the recording (its `damage`), read as absent, never an exception further on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgpack
from google.protobuf import json_format

from gametap.core.errors import DataLoss
from gametap.recordings.recording import MAGIC, UPDATE_KINDS, RecordingError, check_magic, entry_kind, read_records
from gametap.recordings.replay import update_head
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import recording_pb2 as rpb

_TEXT, _NUMBER, _WHOLE, _TEXTS = "a string", "a number", "a whole number", "a map of strings"
# Every header key that a reader uses (gametap.recordings.provenance writes them), and its type. Keys not
# listed are kept as they are; a listed key's value of another type is dropped, as a problem.
HEADER_TYPES = {
    "format": _WHOLE, "match_id": _TEXT, "started": _NUMBER, "config": _TEXT, "seed": _WHOLE,
    "gametap_version": _TEXT, "commit": _TEXT, "host": _TEXT, "cpu": _TEXT, "cpu_estimates": _TEXT,
    "game": _TEXT, "game_install": _TEXT, "map": _TEXT, "map_pk3": _TEXT, "map_pk3_sha256": _TEXT,
    "glibc": _TEXT, "kernel": _TEXT, "engine": _TEXTS, "library": _TEXTS, "packages": _TEXTS,
}


@dataclass
class Scan:
    size: int                 # the file's bytes
    version: int = 0
    header: dict = field(default_factory=dict)  # its fields of the right type (HEADER_TYPES)
    config: mpb.MatchConfig = field(default_factory=mpb.MatchConfig)  # the header's config, parsed
    records: int = 0          # good records, the header included
    good_bytes: int = 0       # up to the end of the last good record
    last_frame: int = 0
    joins: list[rpb.AgentJoinRecord] = field(default_factory=list)
    module: rpb.GameModuleRecord | None = None
    end: rpb.MatchEndRecord | None = None
    problem: str = ""         # why the read stopped before the file's end ("" when it did not)
    torn: bool = False        # that problem is a torn last record: the writer died, nothing is damaged
    header_problems: list[str] = field(default_factory=list)  # header fields of the wrong type, no header

    @property
    def damage(self) -> str:
        """What is wrong with the recording beyond a torn tail ("" when nothing is)."""
        return "; ".join(self.header_problems + ([self.problem] if self.problem and not self.torn else []))

    @property
    def complete(self) -> bool:
        return self.end is not None and not self.problem and not self.header_problems


def scan(path: Path) -> Scan:
    """Raises RecordingError (gametap.recordings.recording) if the file is not a recording this reader reads
    at all, and OSError if it cannot be read."""
    with open(path, "rb") as f:
        s = Scan(size=f.seek(0, 2))
        f.seek(0)
        s.version, s.good_bytes = check_magic(f.read(len(MAGIC))), len(MAGIC)
        try:
            for payload, end in read_records(f):
                s.problem = _take(s, payload)
                if s.problem:
                    break
                s.records, s.good_bytes = s.records + 1, end
        except RecordingError as e:
            s.problem = str(e)
    if not s.problem and s.good_bytes < s.size:
        s.problem, s.torn = f"the last record (record {s.records}, at byte {s.good_bytes}) is torn: the file ends inside it", True
    if not s.records and (s.torn or not s.problem):
        s.header_problems.append("it has no header record")
    return s


def _take(s: Scan, payload: bytes) -> str:
    """Takes the next record into s; "" or the problem found in it."""
    where = f"record {s.records} at byte {s.good_bytes}"
    if s.records == 0:
        return _take_header(s, payload, where)
    kind = entry_kind(payload)
    if kind in UPDATE_KINDS:
        try:
            s.last_frame = max(s.last_frame, update_head(payload)[1])
        except DataLoss as e:
            return f"{where}: {e}"
    elif kind:
        try:
            entry = rpb.RecordEntry.FromString(payload)
        except Exception as e:
            return f"{where} does not decode ({e})"
        which = entry.WhichOneof("kind")
        if which == "join":
            s.joins.append(entry.join)
        elif which == "module" and s.module is None:
            s.module = entry.module
        elif which == "end":
            s.end = entry.end
    else:
        return f"{where} is of no known kind"
    return ""


def _take_header(s: Scan, payload: bytes, where: str) -> str:
    try:
        header = msgpack.unpackb(payload, raw=False)
    except Exception as e:
        return f"the header ({where}) is not valid msgpack ({e})"
    if not isinstance(header, dict):
        return f"the header ({where}) is not a map"
    for key, value in header.items():
        kind = HEADER_TYPES.get(key)
        if kind is None or _is(value, kind):
            s.header[key] = value
        else:
            s.header_problems.append(f"the header's {key} is {_shown(value)}, not {kind}")
    try:
        json_format.Parse(s.header.get("config", "{}"), s.config, ignore_unknown_fields=True)
    except Exception as e:  # noqa: BLE001 - ParseError, and json's own errors (RecursionError) too
        s.config.Clear()
        s.header.pop("config")
        s.header_problems.append(f"the header's config does not parse ({str(e)[:200]})")
    return ""


def _is(value, kind: str) -> bool:
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _TEXTS:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (kind == _NUMBER and isinstance(value, float))


def _shown(value) -> str:
    return "null" if value is None else f"{type(value).__name__} {repr(value)[:40]}"


def _binary_file(fields: dict) -> arpb.BinaryFile:
    return arpb.BinaryFile(path=fields.get("path", ""), build_id=fields.get("build_id", ""))


def provenance_of(s: Scan) -> arpb.Provenance:
    h = s.header  # every field of the right type (HEADER_TYPES), or absent
    p = arpb.Provenance(
        format=s.version, gametap_version=h.get("gametap_version", ""), commit=h.get("commit", "unknown"),
        host=h.get("host", ""), game=h.get("game", ""), map=h.get("map", s.config.map),
        map_pk3=h.get("map_pk3", ""), map_pk3_sha256=h.get("map_pk3_sha256", ""), config=s.config,
        started_unix_s=h.get("started", 0.0), joins=s.joins, cpu=h.get("cpu", ""),
        cpu_estimates=h.get("cpu_estimates", ""),
        glibc=h.get("glibc", ""), kernel=h.get("kernel", ""), engine=_binary_file(h.get("engine", {})),
        library=_binary_file(h.get("library", {})), packages=h.get("packages", {}))
    if s.module is not None:
        p.module.CopyFrom(s.module)
    if s.end is not None:
        p.status, p.failure, p.ended_unix_s = s.end.status, s.end.failure, s.end.ended_unix_s
    elif s.problem and not s.torn:
        p.status = mpb.FAILED
        p.failure = f"its recording cannot be read past frame {s.last_frame}: {s.problem}"
    else:
        p.status = mpb.FAILED
        p.failure = (f"the recording stops at frame {s.last_frame} without the match's end: the daemon or its "
                     f"worker ended first" + (f" ({s.problem})" if s.problem else ""))
    return p
