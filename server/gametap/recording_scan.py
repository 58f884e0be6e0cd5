"""Reading a recording through once, for what it says about its match and whether it is whole.

`scan(path)` is the archive's quick look (run over every recording at the daemon's start):
it reads each record's head, the first bytes of each update and the agents', module and end
records in full, and skips the rest. `scan(path, verify=True)` reads and checks every record
(`gametap recordings verify`). Either way it stops at the first problem and says what and
where: a torn last record (the writer died mid-write), a corrupt one, one of no known kind.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
from google.protobuf import json_format

from gametap.errors import DataLoss
from gametap.recording import MAGIC, MAX_RECORD, RECORD_HEAD, UPDATE_KINDS, check_magic, entry_kind
from gametap.replay import update_head
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import recording_pb2 as rpb

log = logging.getLogger(__name__)

_PEEK = 24  # bytes of an update's payload that hold its kind and frame


@dataclass
class Scan:
    size: int                 # the file's bytes
    version: int = 0
    header: dict = field(default_factory=dict)
    records: int = 0          # good records, the header included
    good_bytes: int = 0       # up to the end of the last good record
    last_frame: int = 0
    joins: list[rpb.AgentJoinRecord] = field(default_factory=list)
    module: rpb.GameModuleRecord | None = None
    end: rpb.MatchEndRecord | None = None
    problem: str = ""         # "" when nothing is wrong

    @property
    def complete(self) -> bool:
        return self.end is not None and not self.problem


def scan(path: Path, verify: bool = False) -> Scan:
    """Raises RecordingError (gametap.recording) if the file is not a recording this reader reads at all."""
    with open(path, "rb") as f:
        s = Scan(size=f.seek(0, 2))
        f.seek(0)
        s.version, s.good_bytes = check_magic(f.read(len(MAGIC))), len(MAGIC)
        while s.good_bytes < s.size and not s.problem:
            s.problem = _next_record(f, s, verify)
    if not s.header and not s.problem:
        s.problem = "it has no header record"
    return s


def _next_record(f, s: Scan, verify: bool) -> str:
    """Reads the record at s.good_bytes into s; "" or the problem found there."""
    at, index = s.good_bytes, s.records
    torn = f"the last record (record {index}, at byte {at}) is torn: the file ends inside it"
    head = f.read(RECORD_HEAD.size)
    if len(head) < RECORD_HEAD.size:
        return torn
    length, crc = RECORD_HEAD.unpack(head)
    if length > MAX_RECORD:
        return f"record {index} at byte {at} claims {length} bytes (the limit is {MAX_RECORD})"
    end = at + RECORD_HEAD.size + length
    if end > s.size:
        return torn
    quick = not verify and index > 0
    payload = f.read(min(length, _PEEK) if quick else length)
    kind = entry_kind(payload) if index > 0 else 0
    if quick and kind not in UPDATE_KINDS:
        payload += f.read(length - len(payload))  # the agents', module and end records are read whole
    elif quick:
        f.seek(end)
    if verify and zlib.crc32(payload) != crc:
        return f"record {index} at byte {at} is corrupt (checksum mismatch)"
    problem = _take(s, index, kind, payload, at)
    if not problem:
        s.records, s.good_bytes = index + 1, end
    return problem


def _take(s: Scan, index: int, kind: int, payload: bytes, at: int) -> str:
    where = f"record {index} at byte {at}"
    if index == 0:
        try:
            header = msgpack.unpackb(payload, raw=False)
        except Exception as e:
            return f"the header ({where}) is not valid msgpack ({e})"
        if not isinstance(header, dict):
            return f"the header ({where}) is not a map"
        s.header = header
    elif kind in UPDATE_KINDS:
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


def _binary_file(value) -> arpb.BinaryFile:
    fields = value if isinstance(value, dict) else {}
    return arpb.BinaryFile(path=str(fields.get("path", "")), build_id=str(fields.get("build_id", "")))


def _strings(value) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def provenance_of(s: Scan) -> arpb.Provenance:
    h = s.header
    config = mpb.MatchConfig()
    try:
        json_format.Parse(str(h.get("config", "{}")), config, ignore_unknown_fields=True)
    except json_format.ParseError as e:
        log.warning("recording of %s: its config does not parse: %s", h.get("match_id"), e)
    p = arpb.Provenance(
        format=s.version, gametap_version=str(h.get("gametap_version", "")), commit=str(h.get("commit", "unknown")),
        host=str(h.get("host", "")), game=str(h.get("game", "")), map=str(h.get("map", config.map)),
        map_pk3=str(h.get("map_pk3", "")), map_pk3_sha256=str(h.get("map_pk3_sha256", "")), config=config,
        started_unix_s=float(h.get("started", 0.0)), joins=s.joins, cpu=str(h.get("cpu", "")),
        glibc=str(h.get("glibc", "")), kernel=str(h.get("kernel", "")),
        engine=_binary_file(h.get("engine")), library=_binary_file(h.get("library")),
        packages=_strings(h.get("packages")))
    if s.module is not None:
        p.module.CopyFrom(s.module)
    if s.end is not None:
        p.status, p.failure, p.ended_unix_s = s.end.status, s.end.failure, s.end.ended_unix_s
    else:
        p.status = mpb.FAILED
        p.failure = (f"the recording stops at frame {s.last_frame} without the match's end: the daemon or its "
                     f"worker ended first" + (f" ({s.problem})" if s.problem else ""))
    return p
