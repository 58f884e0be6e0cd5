"""Where a match's files live in the state directory: its folder, and the recording in it."""
from __future__ import annotations

from pathlib import Path

from gametap.core.errors import NotFound
from gametap.core.ids import MATCH_ID

RECORDING_NAME = "updates.gtrec"


def match_dir(state_dir: Path, match_id: str) -> Path:
    """Where a match keeps its game's home, its log and its recording."""
    return state_dir / "matches" / match_id


def recording_on_disk(state_dir: Path, match_id: str) -> Path:
    """The recording a match left in the state directory (NotFound if there is none)."""
    if not MATCH_ID.fullmatch(match_id):  # ids never reach the filesystem unchecked
        raise NotFound(f"no match with id {match_id[:64]!r}")
    path = match_dir(state_dir, match_id) / RECORDING_NAME
    if not path.is_file():
        raise NotFound(f"no match or recording with id {match_id!r}")
    return path
