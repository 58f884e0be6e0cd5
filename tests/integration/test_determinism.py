"""Same config and seed twice in LOCKSTEP with bots only: identical state streams.

Every update the daemon produced is in the match's recording; the test compares a
hash of each serialized update, frame by frame.
"""
import hashlib

import pytest

from gametap.recordings.recording import read_recording
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
FRAMES = 4000


def run_and_hash(client, daemon, seed):
    match = client.create_match(lockstep(max_frames=FRAMES, seed=seed))
    final = wait_ended(client, match.id)
    assert final.status == mpb.FINISHED, final.failure
    recording = read_recording(daemon.match_dir(match.id) / "updates.gtrec")
    assert not recording.torn_tail and recording.metadata["match_id"] == match.id
    return [hashlib.sha256(u).hexdigest() for u in recording.updates]


def test_same_seed_gives_identical_streams_and_another_seed_does_not(client, daemon):
    first = run_and_hash(client, daemon, seed=777)
    second = run_and_hash(client, daemon, seed=777)
    assert len(first) >= FRAMES  # a delta per frame, plus keyframes
    mismatch = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), None)
    assert mismatch is None and len(first) == len(second), f"streams differ from update {mismatch}"
    other = run_and_hash(client, daemon, seed=778)
    assert other != first
