"""The envs' action spaces, and their translation into the game's actions.

Three formats of the same controls; every env takes `action_format=`:
- "dict" (the default of the single envs): {"move": [forward, strafe, jump] in -1..1,
  "look": [turn, tilt] in -1..1, "attack": 0/1, "weapon": 0..13 (0 keeps the current one)}.
- "box": Box(-1, 1, (6,)) = forward, strafe, jump, turn, tilt, attack (> 0 fires): one
  flat vector, as stable-baselines3 and CleanRL want.
- "multidiscrete": MultiDiscrete([3, 3, 3, 5, 5, 2]): forward, strafe, jump in {back, none,
  forward} (0, 1, 2), turn and tilt in five steps from -1 to 1, attack 0/1.

turn and tilt are relative: times max_turn_degrees per step; turn > 0 turns left, tilt > 0
looks down. Every format first becomes the same normalized controls (NORMALIZED), one
row per agent; the envs then make absolute angles from where each player looks.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces

from gametap.client import features

FORMATS = ("dict", "box", "multidiscrete")
NORMALIZED = ("forward", "strafe", "jump", "turn", "tilt", "attack", "weapon")
_AXIS_STEPS = np.array([-1.0, 0.0, 1.0], np.float32)
_LOOK_STEPS = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
_YAW_SIN, _YAW_COS, _PITCH, _ALIVE = (features.SELF.index(n) for n in ("sin_yaw", "cos_yaw", "pitch", "alive"))


def action_space(action_format: str = "dict") -> spaces.Space:
    if action_format == "dict":
        return spaces.Dict({
            "move": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "look": spaces.Box(-1.0, 1.0, (2,), np.float32),
            "attack": spaces.Discrete(2),
            "weapon": spaces.Discrete(14),
        })
    if action_format == "box":
        return spaces.Box(-1.0, 1.0, (6,), np.float32)
    if action_format == "multidiscrete":
        return spaces.MultiDiscrete([3, 3, 3, 5, 5, 2])
    raise ValueError(f"action_format {action_format!r}: one of {', '.join(FORMATS)}")


def normalized(action_format: str, actions, n: int) -> np.ndarray:
    """A batch of n actions in the given format -> float32 (n, 7) rows of NORMALIZED."""
    out = np.zeros((n, len(NORMALIZED)), np.float32)
    if action_format == "dict":
        out[:, 0:3] = np.asarray(actions["move"], np.float32).reshape(n, 3)
        out[:, 3:5] = np.asarray(actions["look"], np.float32).reshape(n, 2)
        out[:, 5] = np.asarray(actions["attack"]).reshape(n) != 0
        out[:, 6] = np.asarray(actions["weapon"]).reshape(n)
    elif action_format == "box":
        a = np.asarray(actions, np.float32).reshape(n, 6)
        out[:, 0:5] = a[:, 0:5]
        out[:, 5] = a[:, 5] > 0
    elif action_format == "multidiscrete":
        a = np.asarray(actions, np.int64).reshape(n, 6)
        out[:, 0:3] = _AXIS_STEPS[np.clip(a[:, 0:3], 0, 2)]
        out[:, 3:5] = _LOOK_STEPS[np.clip(a[:, 3:5], 0, 4)]
        out[:, 5] = a[:, 5] != 0
    else:
        raise ValueError(f"action_format {action_format!r}: one of {', '.join(FORMATS)}")
    axes = out[:, 0:5]
    np.minimum(np.maximum(axes, -1.0, out=axes), 1.0, out=axes)  # ufuncs: np.clip costs more on small arrays
    return out


def one(action_format: str, action) -> np.ndarray:
    """One action -> its NORMALIZED row."""
    if action_format == "dict":
        action = {k: np.asarray(v)[None] for k, v in action.items()}
    return normalized(action_format, action, 1)[0]


def view_angles(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(yaw, pitch) in degrees where a player looks, from its features (one row, or rows)."""
    return np.degrees(np.arctan2(feats[..., _YAW_SIN], feats[..., _YAW_COS])), feats[..., _PITCH] * 90.0


def rows_from_features(controls: np.ndarray, feats: np.ndarray, max_turn_degrees: float,
                       auto_respawn: bool) -> np.ndarray:
    """NORMALIZED controls (n, 7) and each player's features (n, SIZE) -> action rows (n, 7) of
    VectorRequest.action_rows: absolute yaw and pitch from where the player looks now, and fire
    for a dead player (so it respawns) when auto_respawn."""
    rows = np.empty_like(controls)
    rows[:, 0:3] = controls[:, 0:3]
    yaw, pitch = view_angles(feats)
    rows[:, 3] = (yaw + controls[:, 3] * max_turn_degrees + 180.0) % 360.0 - 180.0
    pitch = pitch + controls[:, 4] * max_turn_degrees
    rows[:, 4] = np.minimum(np.maximum(pitch, -89.0), 89.0)
    attack = controls[:, 5] > 0.5
    if auto_respawn:
        attack |= feats[:, _ALIVE] < 0.5
    rows[:, 5] = attack
    rows[:, 6] = controls[:, 6]
    return rows
