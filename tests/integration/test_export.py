"""Datasets from recordings (issue 9, item 4): a Minari export loads with minari.load_dataset,
its observations are features.encode of the recorded states, and its actions convert back
(as the envs convert actions) to the recorded commands; npz has the documented layout; a
player the match never had is a clear error that writes nothing."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import zlib

import msgpack
import numpy as np
import pytest

from gametap.client import features
from gametap.client.envs import actions as env_actions
from gametap.recordings.recording import MAGIC, RECORD_HEAD
from gametap.recordings.recording_scan import scan
from gametap.recordings.replay import frame_by_frame

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
FPS = 4  # frames per step


def angle_units(degrees: float) -> int:
    return int(float(np.float32(degrees)) * 65536 / 360) & 0xFFFF  # as native/hotpath/actions.c


def move_units(v: float) -> int:
    return int(max(-127, min(127, np.rint(float(np.float32(v)) * 127))))


@pytest.fixture(scope="module")
def bot_match(daemon):
    with daemon.client() as c:
        match = c.create_match(lockstep(max_frames=1201, seed=51))
        wait_ended(c, match.id)
    return match.id


def export(daemon, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gametap", "export", *args, "--server", daemon.grpc],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)


def recorded_worlds(path) -> dict:
    """frame -> (features of each player by name, each player's command by name)."""
    out = {}
    for frame, _, world in frame_by_frame(path):
        out[frame] = ({p.name: features.encode(world, p.client) for p in world.players.values()},
                      {p.name: p.command for p in world.players.values() if p.HasField("command")})
    return out


def test_minari_export_loads_and_matches_the_recording(daemon, bot_match, tmp_path, monkeypatch):
    import os

    import minari
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "minari")}
    out = export(daemon, bot_match, "--format", "minari", "--dataset-id", "gametap/test/bots-v0", env=env)
    assert out.returncode == 0, out.stderr
    assert "gametap/test/bots-v0 (4 episodes" in out.stdout
    dataset = minari.load_dataset("gametap/test/bots-v0")
    assert dataset.total_episodes == 4  # one per bot
    worlds = recorded_worlds(daemon.match_dir(bot_match) / "updates.gtrec")
    names = {}
    checked = 0
    for episode in dataset.iterate_episodes():
        frames = episode.infos["frame"]
        assert (np.diff(frames) == FPS).all() and len(frames) > 250
        name = next(n for n, f in worlds[frames[0]][0].items() if np.array_equal(f, episode.observations[0]))
        names[name] = episode.id
        for t, frame in enumerate(frames[:-1]):
            assert np.array_equal(episode.observations[t], worlds[frame][0][name])
            cmd = worlds[frame + 1][1][name]  # the command the game applied in the step's first frame
            row = np.array([*episode.actions["move"][t], *episode.actions["look"][t], episode.actions["attack"][t],
                            episode.actions["weapon"][t]], np.float32)
            back = env_actions.rows_from_features(row[None], episode.observations[t][None], 30.0, False)[0]
            assert (move_units(back[0]), move_units(back[1]), move_units(back[2])) == (cmd.forward, cmd.right, cmd.up)
            assert (int(back[5]), int(back[6])) == (cmd.buttons & 1, cmd.weapon)
            # not clipped, and not the one yaw unit at exactly 180 degrees, which the envs' wrap to
            # -180..180 turns into its neighbour (gametap.recordings.export.controls)
            if abs(row[3]) < 1 and abs(row[4]) < 1 and abs(back[4]) < 89 and cmd.yaw != 32768:
                assert angle_units(back[3]) == cmd.yaw and angle_units(back[4]) == cmd.pitch, (frame, name)
                checked += 1
    assert len(names) == 4 and checked > 4 * 200


def test_npz_export_has_the_documented_layout(daemon, bot_match, tmp_path):
    out = export(daemon, bot_match, "--format", "npz", "--out", str(tmp_path), "--player", "Sarge", "--player", "Major")
    assert out.returncode == 0, out.stderr
    data = np.load(tmp_path / f"{bot_match}.npz")
    assert list(data["names"]) == ["Sarge", "Major"] and list(data["controllers"]) == ["bot", "bot"]
    T = len(data["frames"]) - 1
    assert data["observations"].shape == (T + 1, 2, features.SIZE) and data["actions"].shape == (T, 2, 7)
    assert data["commands"].shape == (T, 2, 8) and data["rewards"].shape == (T, 2) and data["active"].shape == (T + 1, 2)
    assert bool(data["terminated"]) is True  # max_frames ended it: FINISHED, as the envs see a final observation
    assert (data["commands"][:, :, 0] == np.rint(data["actions"][:, :, 0] * 127)).all()


def test_export_of_a_player_the_match_never_had_writes_nothing(daemon, bot_match, tmp_path):
    out = export(daemon, bot_match, "--format", "npz", "--out", str(tmp_path), "--player", "Nobody")
    assert out.returncode == 1 and "had no player named Nobody" in out.stderr and "Sarge" in out.stderr
    assert list(tmp_path.iterdir()) == []
    out = export(daemon, "0123456789ab", "--format", "npz", "--out", str(tmp_path))
    assert out.returncode == 1 and "NOT_FOUND" in out.stderr and list(tmp_path.iterdir()) == []


def with_header(source, dest, header=None, cut: int | None = None):
    """A copy of a recording with another header record (None: without one), or cut after `cut` bytes."""
    data = source.read_bytes()
    length, _ = RECORD_HEAD.unpack_from(data, len(MAGIC))
    rest = data[len(MAGIC) + RECORD_HEAD.size + length:]
    if header is not None:
        payload = msgpack.packb(header, use_bin_type=True)
        rest = RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload + rest
    whole = MAGIC + rest
    dest.write_bytes(whole[:cut] if cut is not None else whole)
    return dest


def recorded_header(daemon, match_id) -> tuple:
    path = daemon.match_dir(match_id) / "updates.gtrec"
    return path, scan(path).header


def files_under(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("match_id", ["x/../../ESCAPED", "/tmp/ESCAPED-absolute", "", 12345])
def test_export_never_takes_a_file_name_unchecked_from_the_recording(daemon, bot_match, tmp_path, match_id):
    """Issue 20, defect 4: the npz name came from the header's match id, and `x/../../ESCAPED`
    wrote two folders above --out."""
    path, header = recorded_header(daemon, bot_match)
    crafted = with_header(path, tmp_path / "crafted.gtrec", {**header, "match_id": match_id})
    out = tmp_path / "a" / "b" / "out"
    result = export(daemon, str(crafted), "--format", "npz", "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(crafted) in result.stderr and "match id" in result.stderr, result.stderr
    assert files_under(tmp_path) == [crafted] and not os.path.exists("/tmp/ESCAPED-absolute.npz")


@pytest.mark.parametrize("what", ["no header", "torn header", "magic only", "a list for a header", "random bytes"])
def test_export_of_a_recording_without_its_header_fails_naming_the_file(daemon, bot_match, tmp_path, what):
    """Issue 20, defects 8 and 7: with no header export succeeded under a temporary name; a torn
    one ended in a traceback ("negative dimensions are not allowed")."""
    path, header = recorded_header(daemon, bot_match)
    crafted = {"no header": lambda d: with_header(path, d),
               "torn header": lambda d: with_header(path, d, header, cut=len(MAGIC) + RECORD_HEAD.size + 20),
               "magic only": lambda d: with_header(path, d, cut=len(MAGIC)),
               "a list for a header": lambda d: with_header(path, d, [header]),
               "random bytes": lambda d: d.write_bytes(random.Random(3).randbytes(5000)) and d,
               }[what](tmp_path / "damaged.gtrec")
    out = tmp_path / "out"
    result = export(daemon, str(crafted), "--format", "npz", "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{crafted}: " in result.stderr and ("header" in result.stderr or "magic" in result.stderr), result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and not out.exists()  # "reading ..." and the error


def test_export_to_an_out_that_cannot_take_it_is_one_line(daemon, bot_match, tmp_path):
    """Issue 20, defect 7: --out naming a file, a read-only file system and a full one (real
    tmpfs mounts) each gave a traceback."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = export(daemon, bot_match, "--format", "npz", "--out", str(a_file))
    assert result.returncode == 1 and f"gametap: {a_file}: Not a directory" in result.stderr, result.stderr
    for name, options, message in (("ro", "ro", "Read-only file system"), ("full", "size=64k", "No space left")):
        mount = tmp_path / name
        mount.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True)
        if mounted.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
        try:
            result = export(daemon, bot_match, "--format", "npz", "--out", str(mount))
            assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
            assert f"gametap: {mount / bot_match}.npz: " in result.stderr, result.stderr
            assert list(mount.iterdir()) == []  # no part file left behind
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
