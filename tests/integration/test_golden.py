"""Reproducible across machines: a seeded match here gives the game a committed golden file holds.

A golden (tests/golden/GOLDEN.*.json) was made on one machine: the hash of the state every
CHECKPOINT frames, the final state in full, and that machine's provenance (CPU, C library,
kernel, build-ids, package versions). The engine computes with rsqrtss and rcpss, whose
results are the CPU maker's choice, so a golden holds for the machines whose CPU computes
them alike: the same `cpu_estimates` digest (or, for a golden made before the digest was
recorded, the same maker). Such a machine that plays another game from the same config and
seed fails here, saying where the game parted, which fields differ at the end and what
differs between its provenance and the golden machine's. A machine no golden holds for must
play the game of one of them, or it fails the same way, naming its digest as new.

To make this machine's golden (on a new kind of CPU; after a change that alters the game on
purpose, remove the old ones first):
GAMETAP_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_golden.py
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from google.protobuf import json_format

from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.diff import field_diffs
from gametap.recordings.provenance import differences
from gametap.recordings.replay import frame_by_frame
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
GOLDENS = Path(__file__).resolve().parents[1] / "golden"
GOLDEN = "lockstep-oa_dm1-4bots-seed1234"
FRAMES, CHECKPOINT = 12_000, 1_000
MACHINE = ("commit", "cpu", "cpu_estimates", "glibc", "kernel", "engine", "library", "module", "packages", "map_pk3_sha256")


def play(client, daemon) -> tuple[dict[int, str], wpb.WorldState, arpb.Provenance]:
    """The seeded match's state hashes at each checkpoint, its final state and its provenance."""
    match = client.create_match(lockstep(max_frames=FRAMES, seed=1234))
    assert wait_ended(client, match.id).status == mpb.FINISHED
    hashes, final = {}, None
    for frame, _, world in frame_by_frame(daemon.match_dir(match.id) / "updates.gtrec"):
        if frame % CHECKPOINT == 0 or frame == FRAMES:
            final = world.state()
            hashes[frame] = hashlib.sha256(final.SerializeToString(deterministic=True)).hexdigest()
    return hashes, final, client.get_recording(match.id).provenance


def machine_of(p: arpb.Provenance) -> dict:
    return {k: v for k, v in json_format.MessageToDict(p, preserving_proto_field_name=True).items() if k in MACHINE}


def goldens() -> dict[str, dict]:
    """Every committed golden, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(GOLDENS.glob(f"{GOLDEN}.*.json"))}


def holds_for(made_on: dict, provenance: arpb.Provenance) -> bool:
    """Whether a golden made there was made on a CPU whose estimate instructions compute as this one's."""
    if made_on.get("cpu_estimates"):
        return made_on["cpu_estimates"] == provenance.cpu_estimates
    return made_on.get("cpu", "").split()[:1] == provenance.cpu.split()[:1]  # the maker's name


def test_a_seeded_match_gives_the_golden_game(client, daemon):
    hashes, final, provenance = play(client, daemon)
    assert max(hashes) == FRAMES
    assert len(provenance.cpu_estimates) == 16, "the recording does not say how this CPU's estimates compute"
    if os.environ.get("GAMETAP_WRITE_GOLDEN"):
        path = GOLDENS / f"{GOLDEN}.{provenance.cpu_estimates}.json"
        path.write_text(json.dumps({
            "config": json_format.MessageToDict(provenance.config), "checkpoints": hashes,
            "final_state": json_format.MessageToDict(final), "made_on": machine_of(provenance)}, indent=1) + "\n")
        pytest.skip(f"golden written to {path}")
    every = goldens()
    mine = [golden for golden in every.values() if holds_for(golden["made_on"], provenance)]
    for golden in mine:
        compare(golden, hashes, final, provenance)
    if mine:
        return
    failures = []
    for name, golden in every.items():  # a new kind of CPU: its game must still be one of the goldens'
        try:
            return compare(golden, hashes, final, provenance)
        except pytest.fail.Exception as e:
            failures.append(f"{name}: {e}")
    pytest.fail(f"no golden was made on a CPU whose rsqrtss and rcpss compute as this one's ({provenance.cpu}, "
                f"cpu_estimates {provenance.cpu_estimates}), and its game is none of theirs; if this machine "
                f"plays right, GAMETAP_WRITE_GOLDEN=1 makes its golden. " + " | ".join(failures))


def compare(golden: dict, hashes: dict[int, str], final: wpb.WorldState, provenance: arpb.Provenance) -> None:
    assert json_format.MessageToDict(provenance.config) == golden["config"], "the test's config is not the golden's"
    expected = {int(frame): digest for frame, digest in golden["checkpoints"].items()}
    if hashes == expected:
        return
    parted = min(f for f in expected if hashes.get(f) != expected[f])
    fields = field_diffs(json_format.ParseDict(golden["final_state"], wpb.WorldState()), final)
    made_on = json_format.ParseDict(golden["made_on"], arpb.Provenance())
    machine = differences(made_on, provenance) or ["nothing it records"]
    pytest.fail(f"this machine played another game than the golden one: the states part by frame {parted} "
                f"(identical through frame {parted - CHECKPOINT}); at frame {FRAMES} they differ in "
                f"{', '.join(fields[:12]) or 'nothing'}; this machine's provenance differs from the golden "
                f"machine's in: {'; '.join(machine)}")
