"""The archive: every ended match the daemon can still tell about, from its recording.

A match's folder (state_dir/matches/ID) outlives the daemon. At start the daemon indexes
every recording there (gametap.recordings.recording_scan: every record read and its checksum checked),
so matches from before a restart are listed and GetMatch, GetState and Watch answer for them;
a match of this run joins the index when the pool stops keeping it in memory. A recording
that cannot be read (or only in part) is listed all the same, with what could be read and its
`recording_damage`, and named in the log: one bad file never hides the others.

Retention removes the oldest ended matches' folders, each by name in the log, while the
archive holds more than its bound (`bound`: [recording] keep_bytes, by default a share of the
file system holding the state directory, and less when its free space falls below
keep_free_bytes; the newest ended match is always spared) or a match ended more than keep_days ago. The log warns once as the archive
nears its bound.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gametap.core.errors import FailedPrecondition
from gametap.core.ids import MATCH_ID
from gametap.core.settings import Retention
from gametap.recordings.paths import RECORDING_NAME, match_dir, recording_on_disk
from gametap.recordings.recording import RecordingError
from gametap.recordings.recording_scan import Scan, provenance_of, scan
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb

log = logging.getLogger(__name__)


class Archive:
    def __init__(self, state_dir: Path):
        self._state_dir = state_dir
        self._matches: dict[str, mpb.Match] = {}
        self._near = False  # the archive is near its bound (warned of once each time it comes near)

    # ---- the index ----

    def index(self) -> None:
        """Indexes every recording in the state directory (blocking: run it off the event loop)."""
        started, now, total, damaged = time.monotonic(), time.time(), 0, 0
        root = self._state_dir / "matches"
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            path = folder / RECORDING_NAME
            if not MATCH_ID.fullmatch(folder.name) or not path.is_file():
                continue
            try:
                if path.stat().st_mtime >= now:  # a match of this run, started while the index runs
                    continue
            except OSError:  # removed meanwhile
                continue
            m = self._matches[folder.name] = indexed(folder.name, path)
            total += m.recording_bytes
            if m.recording_damage:
                damaged += 1
                log.warning("archive: match %s: its recording is damaged: %s", m.id, m.recording_damage)
        log.info("archive: %d recorded matches (%.1f MB) indexed in %.2f s, every record's checksum checked; "
                 "%d of them damaged", len(self._matches), total / 1e6, time.monotonic() - started, damaged)

    def add(self, m: mpb.Match) -> None:
        """An ended match of this run that the pool no longer keeps in memory."""
        path = match_dir(self._state_dir, m.id) / RECORDING_NAME
        if not path.is_file():
            return  # not recorded: nothing to tell about it later
        kept = mpb.Match()
        kept.CopyFrom(m)
        kept.ClearField("placement")
        kept.pid, kept.frames_per_second, kept.archived = 0, 0.0, True
        kept.recording_bytes = path.stat().st_size
        self._matches[m.id] = kept

    def recorded(self, match_id: str) -> Scan | None:
        """What a match's recording holds (None: it has none, or it cannot be read, as logged).
        Blocking."""
        path = match_dir(self._state_dir, match_id) / RECORDING_NAME
        try:
            return scan(path) if path.is_file() else None
        except (OSError, RecordingError) as e:
            log.warning("archive: the recording of match %s cannot be read: %s", match_id, e)
            return None

    def get(self, match_id: str) -> mpb.Match | None:
        return self._matches.get(match_id)

    def matches(self) -> list[mpb.Match]:
        return list(self._matches.values())

    # ---- one recording ----

    def describe(self, match_id: str, verify: bool) -> arpb.RecordingInfo:
        """Provenance (and with verify, the check of every record). Blocking file reads."""
        path = recording_on_disk(self._state_dir, match_id)
        try:
            s = scan(path)
        except RecordingError as e:
            raise FailedPrecondition(f"{path} cannot be read: {e}") from None
        info = arpb.RecordingInfo(match_id=match_id, bytes=s.size, provenance=provenance_of(s))
        if verify:
            problem = "; ".join(p for p in (s.damage, s.problem if s.torn else "") if p)
            info.check.CopyFrom(arpb.RecordingCheck(complete=s.complete, records=s.records, good_bytes=s.good_bytes,
                                                    last_frame=s.last_frame, problem=problem))
        return info

    def delete(self, match_id: str, live: bool) -> int:
        """Removes an ended match's folder; the bytes it freed. Blocking."""
        recording_on_disk(self._state_dir, match_id)  # NotFound for an unknown id, before any path is built
        if live:
            raise FailedPrecondition(f"match {match_id} is still running; stop it first")
        freed = self._remove(match_id)
        log.info("archive: removed match %s (%.1f MB), as asked", match_id, freed / 1e6)
        return freed

    def _remove(self, match_id: str) -> int:
        folder = match_dir(self._state_dir, match_id)
        freed = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        shutil.rmtree(folder)
        self._matches.pop(match_id, None)
        return freed

    # ---- retention ----

    def enforce(self, rule: Retention, live: set[str], now: float | None = None, disk: Disk | None = None) -> list[str]:
        """Removes ended matches' folders, oldest first, while the recordings hold more than the
        archive's bound or ended more than keep_days ago; returns their ids. Blocking. The size
        bounds never take the newest ended match (on a small or full disk it would go the moment
        it ends, the one result just made), as journald keeps its active file; keep_days may.
        disk: the file system's figures (default: statvfs of the state directory)."""
        now = time.time() if now is None else now
        ended = []
        for path in (self._state_dir / "matches").glob(f"*/{RECORDING_NAME}"):
            match_id = path.parent.name
            if MATCH_ID.fullmatch(match_id) and match_id not in live:
                st = path.stat()
                ended.append((st.st_mtime, st.st_size, match_id))  # written last when the match ended
        ended.sort()
        total = sum(size for _, size, _ in ended)
        limit = bound(rule, disk or Disk.of(self._state_dir), total) if ended else None
        self._say_if_near(total, limit)
        removed = []
        for i, (mtime, size, match_id) in enumerate(ended):
            age_days = (now - mtime) / 86400
            too_old = rule.keep_days and age_days > rule.keep_days
            too_big = limit is not None and total > limit.bytes and i < len(ended) - 1
            if not (too_old or too_big):
                break
            why = (f"it ended {age_days:.1f} days ago ([recording] keep_days = {rule.keep_days:g})" if too_old else
                   f"the archive holds {total:,} bytes, over its bound of {limit.bytes:,} ({limit.why})")
            try:
                self._remove(match_id)
            except OSError as e:
                log.warning("retention: could not remove match %s: %s", match_id, e)
                continue
            total -= size
            removed.append(match_id)
            log.info("retention: removed match %s (%.1f MB): %s", match_id, size / 1e6, why)
        return removed

    def _say_if_near(self, total: int, limit: Bound | None) -> None:
        """Warns as the archive nears its bound: once each time it comes near, not at every match."""
        near = limit is not None and total > 0 and total >= NEAR * limit.bytes
        if near and not self._near:
            log.warning("archive: the ended matches' recordings hold %s bytes: the archive nears its bound of %s "
                        "bytes (%s); past it the oldest are removed", f"{total:,}", f"{limit.bytes:,}", limit.why)
        self._near = near


NEAR = 0.9  # of the bound: the archive nears it (a warning in the log)


@dataclass(frozen=True)
class Disk:
    """The file system holding the state directory: its size, and the bytes free to the daemon."""
    total: int
    free: int

    @classmethod
    def of(cls, path: Path) -> Disk:
        st = os.statvfs(path)
        return cls(total=st.f_blocks * st.f_frsize, free=st.f_bavail * st.f_frsize)


@dataclass(frozen=True)
class Bound:
    bytes: int  # the most the ended matches' recordings may hold
    why: str    # the rule that sets it, for the log


def bound(rule: Retention, disk: Disk, archive_bytes: int) -> Bound | None:
    """The archive's bound now (None: none): the smaller of keep_bytes (else keep_share of the file
    system's size) and what leaves keep_free_bytes free (the archive as it is, plus the free
    space beyond that floor: removing a recording frees its bytes, so this bound stays put)."""
    bounds = []
    if rule.keep_bytes:
        bounds.append(Bound(rule.keep_bytes, f"[recording] keep_bytes = {rule.keep_bytes:,}"))
    elif rule.keep_share:
        bounds.append(Bound(int(rule.keep_share * disk.total),
                            f"{rule.keep_share * 100:g}% of the {disk.total / 1e9:.1f} GB file system holding the "
                            f"state directory: [recording] keep_bytes"))
    if rule.keep_free_bytes:
        bounds.append(Bound(max(0, archive_bytes + disk.free - rule.keep_free_bytes),
                            f"the file system keeps {rule.keep_free_bytes / 1e9:.1f} GB free: [recording] keep_free_bytes"))
    return min(bounds, key=lambda b: b.bytes, default=None)


class Upkeep:
    """The archive's index at the daemon's start, and retention: after the index, whenever a
    match ends, and hourly (keep_days passes without any match ending). Off the event loop."""

    EVERY_S = 3600.0

    def __init__(self, archive: Archive, rule: Retention, live: Callable[[], set[str]],
                 removed: Callable[[str], None]):
        """live(): the ids of the matches running now (never removed); removed(id): one was."""
        self._archive, self._rule, self._live, self._removed = archive, rule, live, removed
        self._indexing: asyncio.Task | None = None
        self._clock: asyncio.Task | None = None
        self._retaining: asyncio.Task | None = None

    def start(self) -> None:
        self._indexing = asyncio.ensure_future(self._index())

    async def ready(self) -> None:
        """Returns once the index at start is done."""
        if self._indexing is not None and not self._indexing.done():
            await asyncio.shield(self._indexing)

    def soon(self) -> None:
        """Applies retention now, unless it is being applied."""
        if self._retaining is None or self._retaining.done():
            self._retaining = asyncio.ensure_future(self._retain())

    def stop(self) -> None:
        for task in (self._indexing, self._clock):
            if task is not None:
                task.cancel()

    async def _index(self) -> None:
        try:
            await asyncio.to_thread(self._archive.index)
        except Exception as e:  # noqa: BLE001 - said, and retention still runs
            log.error("archive: the index at start failed: %s; only this run's matches are listed", e,
                      exc_info=not isinstance(e, OSError))
        await self._retain()
        self._clock = asyncio.ensure_future(self._hourly())

    async def _hourly(self) -> None:
        while True:
            await asyncio.sleep(self.EVERY_S)
            self.soon()

    async def _retain(self) -> None:
        try:
            removed = await asyncio.to_thread(self._archive.enforce, self._rule, self._live())
        except Exception as e:  # noqa: BLE001 - said; the next match's end or the hour tries again
            log.error("retention failed: %s", e, exc_info=not isinstance(e, OSError))
            return
        for match_id in removed:
            self._removed(match_id)


def indexed(match_id: str, path: Path) -> mpb.Match:
    """The Match a recording tells of, whatever is wrong with it (never an exception)."""
    try:
        return match_of(match_id, scan(path))
    except Exception as e:  # noqa: BLE001 - one recording never stops the index
        reason = str(e) if isinstance(e, (OSError, RecordingError)) else f"reading it failed: {type(e).__name__}: {e}"
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return mpb.Match(id=match_id, status=mpb.FAILED, failure=f"its recording cannot be read: {reason}",
                         archived=True, recording_bytes=size, recording_damage=reason)


def match_of(match_id: str, s: Scan) -> mpb.Match:
    """The Match an archived recording tells of."""
    p = provenance_of(s)
    return mpb.Match(id=match_id, config=p.config, status=p.status, failure=p.failure, frame=s.last_frame,
                     archived=True, started_unix_s=p.started_unix_s, ended_unix_s=p.ended_unix_s,
                     recording_bytes=s.size, recording_stopped=s.end.recording_stopped if s.end else "",
                     scores=s.end.scores if s.end else [], recording_damage=s.damage)
