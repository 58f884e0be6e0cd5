"""Recordings -> datasets for imitation learning: every chosen player's observations and actions,
whoever controlled it (the game's bots, humans, agents).

A match becomes steps of `frames_per_step` frames, as the envs step it. At each step a player's
observation is `features.encode` of the recorded world at that frame (the envs' FULL
observation); its action is the command the game applied in the step's first frame (the
recording's Player.command), expressed in the envs' controls (gametap.client.envs.actions:
forward, strafe, jump, turn, tilt, attack, weapon; turn and tilt relative to where the player
looked, in units of max_turn_degrees, clipped to -1..1 as the action space is); its reward is
its score's change over the step. Converting an action back as the envs do
(actions.rows_from_features, then the hot path's rounding) gives the recorded command again,
except where the turn or tilt was clipped.

    to_arrays(path)               one match: MatchArrays, the (steps x players) layout of npz
    write_npz(matches, out_dir)   one ID.npz per match (layout: MatchArrays, and docs/recordings.md)
    write_minari(matches, id)     a Minari dataset: one episode per (match, player)
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gametap.client import features
from gametap.client.envs import actions as env_actions
from gametap.client.world import World
from gametap.core.errors import InvalidArgument
from gametap.core.ids import MATCH_ID
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import RecordingError
from gametap.recordings.recording_scan import scan
from gametap.recordings.replay import frame_by_frame
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

log = logging.getLogger(__name__)
COMMAND_FIELDS = ("forward", "right", "up", "buttons", "weapon", "pitch", "yaw", "roll")
CONTROLLERS = {wpb.CONTROLLER_BOT: "bot", wpb.CONTROLLER_AGENT: "agent", wpb.CONTROLLER_HUMAN: "human"}
_UNITS = 65536 / 360


@dataclass
class MatchArrays:
    """One match's players, step by step (T steps; arrays over steps x players)."""
    match_id: str
    names: np.ndarray         # (P,) str: the players chosen, by name
    clients: np.ndarray       # (P,) int32: their client numbers (the first they had)
    controllers: np.ndarray   # (P,) str: "bot", "human" or "agent" (as first seen)
    frames: np.ndarray        # (T + 1,) int64: the frame each observation is of
    observations: np.ndarray  # (T + 1, P, features.SIZE) float32
    active: np.ndarray        # (T + 1, P) bool: the player was in the game with a command
    actions: np.ndarray       # (T, P, 7) float32: actions.NORMALIZED controls
    commands: np.ndarray      # (T, P, 8) int32: the applied command (COMMAND_FIELDS) they came from
    rewards: np.ndarray       # (T, P) float32: score change over the step
    clipped: np.ndarray       # (T, P) bool: turn or tilt was beyond max_turn_degrees (clipped)
    terminated: bool          # the game's own limits ended the match (else it was stopped or cut)


def to_arrays(path: Path, players: Sequence[str] = (), frames_per_step: int = 4,
              max_turn_degrees: float = 30.0, progress: Callable[[int, int], None] | None = None,
              name: str | None = None) -> MatchArrays:
    """A match's recording -> MatchArrays for the named players (all players when none are named).
    Raises InvalidArgument naming a player the match never had, and RecordingError for a recording
    with no header, no frame, or a match id that is not one (messages call it `name`, else its path)."""
    if frames_per_step < 1 or not 0 < max_turn_degrees <= 180:
        raise InvalidArgument("frames_per_step", "must be >= 1, and max_turn_degrees in (0, 180]")
    name = name or str(path)
    try:
        s = scan(path)
    except RecordingError as e:  # not a recording at all
        raise RecordingError(f"{name}: {e}") from e
    if not s.header:
        raise RecordingError(f"{name}: nothing to export: no whole header record says which match it is ({s.problem})")
    match_id = checked_match_id(s.header.get("match_id"), name)
    samples = _sample(path, frames_per_step, s.last_frame, progress)
    if not samples:
        raise RecordingError(f"{name}: nothing to export: no recorded frame" + (f" ({s.problem})" if s.problem else ""))
    chosen = _choose(samples, players, match_id)
    P, T = len(chosen), len(samples) - 1
    out = MatchArrays(
        match_id=match_id, names=np.array([n for n, _, _ in chosen], object),
        clients=np.array([c for _, c, _ in chosen], np.int32), controllers=np.array([k for _, _, k in chosen], object),
        frames=np.array([f for f, _, _ in samples], np.int64),
        observations=np.zeros((T + 1, P, features.SIZE), np.float32), active=np.zeros((T + 1, P), bool),
        actions=np.zeros((T, P, len(env_actions.NORMALIZED)), np.float32), commands=np.zeros((T, P, 8), np.int32),
        rewards=np.zeros((T, P), np.float32), clipped=np.zeros((T, P), bool),
        terminated=s.end is not None and s.end.status == mpb.FINISHED)
    for t, (_, world, _) in enumerate(samples):
        for p, (name, _, _) in enumerate(chosen):
            me = _by_name(world, name)
            if me is None:
                continue
            out.observations[t, p] = features.encode(world, me.client)
            out.active[t, p] = me.HasField("command")
    for t in range(T):
        now, then = samples[t][1], samples[t + 1][1]
        applied = samples[t][2]  # the world at the step's first frame: the command it ran
        for p, (name, _, _) in enumerate(chosen):
            me, cmd_holder, later = _by_name(now, name), _by_name(applied, name), _by_name(then, name)
            if me is None or cmd_holder is None or not cmd_holder.HasField("command"):
                out.active[t, p] = False
                continue
            out.commands[t, p] = [getattr(cmd_holder.command, f) for f in COMMAND_FIELDS]
            out.actions[t, p], out.clipped[t, p] = controls(cmd_holder.command, out.observations[t, p], max_turn_degrees)
            out.rewards[t, p] = (later.score - me.score) if later is not None else 0.0
    return out


def controls(cmd: wpb.Command, feats: np.ndarray, max_turn_degrees: float) -> tuple[np.ndarray, bool]:
    """A recorded command -> the envs' NORMALIZED controls, given the player's features when it
    was issued; and whether turn or tilt had to be clipped. The target angles are the middle of
    the command's angle units, so converting back (which truncates) lands on the same unit;
    except the yaw unit at exactly 180 degrees, which the envs' wrap to -180..180 makes its
    neighbour (a 0.005 degree difference)."""
    yaw_now, pitch_now = (float(a) for a in env_actions.view_angles(feats))  # as the envs read them
    yaw = _unit_middle(cmd.yaw) / _UNITS
    pitch = _unit_middle(cmd.pitch) / _UNITS
    turn = ((yaw - yaw_now + 180.0) % 360.0 - 180.0) / max_turn_degrees
    tilt = (pitch - pitch_now) / max_turn_degrees
    clipped = abs(turn) > 1 or abs(tilt) > 1 or abs(pitch) > 89.0
    row = np.array([cmd.forward / 127, cmd.right / 127, cmd.up / 127, max(-1.0, min(1.0, turn)),
                    max(-1.0, min(1.0, tilt)), float(cmd.buttons & 1), float(cmd.weapon)], np.float32)
    return row, clipped


def _unit_middle(units: int) -> float:
    signed = units - 65536 if units >= 32768 else units
    return signed + (0.5 if signed >= 0 else -0.5)


def _by_name(world, name: str) -> wpb.Player | None:
    return next((p for p in world.players.values() if p.name == name), None)


def _sample(path: Path, k: int, last_frame: int, progress) -> list[tuple[int, World, World]]:
    """(frame, the world at it, the world at the next frame) every k frames, as copies."""
    out, pending, said = [], None, time.monotonic()
    for frame, _, world in frame_by_frame(path):
        if pending is not None and frame == pending[0] + 1:
            out.append((pending[0], pending[1], _copy(world)))
            pending = None
        if pending is None and (not out or frame - out[-1][0] >= k):
            pending = (frame, _copy(world))
        if progress is not None and time.monotonic() - said > 1.0:
            progress(frame, last_frame)
            said = time.monotonic()
    return out


def _copy(world: World) -> World:
    copy = World()
    copy.apply(opb.WorldUpdate(keyframe=world.state()))
    return copy


def _choose(samples, players: Sequence[str], match_id: str) -> list[tuple[str, int, str]]:
    """(name, client, controller) of the chosen players, in order of first appearance."""
    seen: dict[str, tuple[int, str]] = {}
    for _, world, _ in samples:
        for p in world.players.values():
            seen.setdefault(p.name, (p.client, CONTROLLERS.get(p.controller, "unknown")))
    if players:
        missing = [n for n in players if n not in seen]
        if missing:
            raise InvalidArgument("players", f"match {match_id} had no player named {', '.join(missing)} "
                                  f"(its players: {', '.join(sorted(seen)) or 'none'})")
        return [(n, *seen[n]) for n in players]
    return [(n, *v) for n, v in seen.items()]


def checked_match_id(match_id, name: str) -> str:
    """A recording's match id, which names the files written for it: 12 hex digits
    (gametap.core.ids.MATCH_ID), never a path that a crafted header chose."""
    if not isinstance(match_id, str) or not MATCH_ID.fullmatch(match_id):
        raise RecordingError(f"{name}: its header's match id {str(match_id)[:40]!r} is not a match id (12 hex "
                             "digits); export names its files by it")
    return match_id


# ---- writing ----

def write_npz(matches: Sequence[MatchArrays], out_dir: Path) -> list[Path]:
    """One ID.npz per match; each written whole (a temporary file renamed) or not at all.
    An OSError names the file it could not write (or out_dir, if that is not a directory)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for m in matches:
        match_id = checked_match_id(m.match_id, m.match_id)
        dest = out_dir / f"{match_id}.npz"
        part = out_dir / f".{match_id}.npz.part"
        try:
            with open(part, "wb") as f:
                np.savez_compressed(f, match_id=np.array(m.match_id), names=m.names.astype(str),
                                    clients=m.clients, controllers=m.controllers.astype(str), frames=m.frames,
                                    observations=m.observations, active=m.active, actions=m.actions,
                                    commands=m.commands, rewards=m.rewards, clipped=m.clipped,
                                    terminated=np.array(m.terminated))
            part.replace(dest)
        except BaseException as e:
            with contextlib.suppress(OSError):  # on a read-only disk even this fails; the first error counts
                part.unlink(missing_ok=True)
            if isinstance(e, OSError):  # a full or read-only disk: name the file, not the temporary one
                raise OSError(e.errno, e.strerror or str(e), str(dest)) from e
            raise
        written.append(dest)
    return written


def write_minari(matches: Sequence[MatchArrays], dataset_id: str, action_format: str = "dict",
                 description: str = "") -> object:
    """A Minari dataset with one episode per (match, player), its active steps in a row; the
    observation and action spaces are the envs'. Nothing is left behind if writing fails."""
    import minari
    from minari.data_collector import EpisodeBuffer

    from gametap.client.envs.single import observation_space
    if action_format not in ("dict", "box"):
        raise InvalidArgument("action_format", f"{action_format!r}: export writes dict or box actions")
    if dataset_id in minari.list_local_datasets():
        raise InvalidArgument("dataset_id", f"a Minari dataset {dataset_id!r} exists already")
    buffers = []
    for m in matches:
        for p in range(len(m.names)):
            episode = _episode(m, p, action_format)
            if episode is not None:
                buffers.append(EpisodeBuffer(id=len(buffers), **episode))
    if not buffers:
        raise InvalidArgument("players", "no chosen player was ever in the game with a command: nothing to export")
    try:
        return minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=observation_space(),
            action_space=env_actions.action_space(action_format), algorithm_name="recorded play (gametap export)",
            description=description or f"gametap recordings {', '.join(m.match_id for m in matches)}",
            data_format="hdf5", author="gametap export", author_email="-", code_permalink="-")
    except BaseException:
        shutil.rmtree(minari.storage.get_dataset_path(dataset_id), ignore_errors=True)
        raise


def _episode(m: MatchArrays, p: int, action_format: str) -> dict | None:
    """The player's first run of active steps, as an episode's arrays."""
    acting = m.active[:-1, p]
    if not acting.any():
        return None
    start = int(np.argmax(acting))
    stop = start + int(np.argmin(acting[start:])) if not acting[start:].all() else len(acting)
    rows = m.actions[start:stop, p]
    n = stop - start
    whole = stop == len(acting)  # it lasted to the match's end
    return dict(
        observations=m.observations[start:stop + 1, p], actions=_in_format(rows, action_format),
        rewards=m.rewards[start:stop, p].astype(np.float64),
        terminations=np.r_[np.zeros(n - 1, bool), whole and m.terminated],
        truncations=np.r_[np.zeros(n - 1, bool), not (whole and m.terminated)],
        infos={"frame": m.frames[start:stop + 1], "client": np.full(n + 1, m.clients[p], np.int64)})


def _in_format(rows: np.ndarray, action_format: str):
    """NORMALIZED rows -> the envs' action format (batched)."""
    if action_format == "box":
        out = rows[:, :6].copy()
        out[:, 5] = np.where(rows[:, 5] > 0.5, 1.0, -1.0)
        return out
    return {"move": rows[:, 0:3].copy(), "look": rows[:, 3:5].copy(), "attack": rows[:, 5].astype(np.int64),
            "weapon": rows[:, 6].astype(np.int64)}


def stderr_progress(match_id: str) -> Callable[[int, int], None]:
    def say(frame: int, last: int) -> None:
        print(f"  {match_id}: frame {frame:,} of {last:,}", file=sys.stderr, flush=True)
    return say
