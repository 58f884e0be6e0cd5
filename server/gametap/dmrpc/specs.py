"""The bridge's named tensors: what a world and a join take, what a step gives and takes.

Observations: "features" (gametap.client.features.encode, float32[SIZE]), "reward" (the
change of the agent's score during the step) and "frame" (the game's frame). Actions are the
envs' "dict" format, one tensor each: "move" [forward, strafe, jump] and "look" [turn, tilt]
in -1..1, "attack" 0/1, "weapon" 0..13 (0 keeps the current one). An action left out of a
step is all zeros (stand still, keep the weapon).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from dm_env_rpc.v1 import dm_env_rpc_pb2 as dm
from dm_env_rpc.v1 import tensor_spec_utils, tensor_utils

from gametap.client import features


def _spec(name: str, dtype: int, shape: tuple[int, ...] = (), bounds: tuple | None = None) -> dm.TensorSpec:
    spec = dm.TensorSpec(name=name, dtype=dtype, shape=list(shape))
    if bounds is not None:
        tensor_spec_utils.set_bounds(spec, *bounds)
    return spec


OBSERVATIONS = {
    1: _spec("features", dm.FLOAT, (features.SIZE,), (-features.LIMIT, features.LIMIT)),
    2: _spec("reward", dm.FLOAT),
    3: _spec("frame", dm.INT64),
}
ACTIONS = {
    1: _spec("move", dm.FLOAT, (3,), (-1.0, 1.0)),
    2: _spec("look", dm.FLOAT, (2,), (-1.0, 1.0)),
    3: _spec("attack", dm.INT32, (), (0, 1)),
    4: _spec("weapon", dm.INT32, (), (0, 13)),
}
# CreateWorld and ResetWorld: setting -> (dtype, default, (min, max) or None); all optional.
WORLD_SETTINGS = {
    "map": (np.str_, "oa_dm1", None),
    "bots": (np.int64, 1, (0, 16)),            # skill-`bot_skill` bots the agent plays against
    "bot_skill": (np.int64, 1, (1, 5)),
    "frag_limit": (np.int64, 0, (0, 1000)),    # 0: none
    "frames_per_step": (np.int64, 4, (1, 100)),
    "max_steps": (np.int64, 1000, (1, 10**7)),  # an episode is truncated after this many steps
    "seed": (np.int64, 1, (1, 2**31 - 1)),     # the first episode's; later ones follow from it
}


class InvalidTensor(ValueError):
    """A request's tensor (or setting) that the bridge cannot take; the message says why."""


def specs_response() -> dm.ActionObservationSpecs:
    return dm.ActionObservationSpecs(actions=ACTIONS, observations=OBSERVATIONS)


def settings(tensors: Mapping[str, dm.Tensor], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """World settings -> {name: value} with every setting (base's, else the default)."""
    out = dict(base) if base is not None else {k: default for k, (_, default, _) in WORLD_SETTINGS.items()}
    for key, tensor in tensors.items():
        if key not in WORLD_SETTINGS:
            raise InvalidTensor(f"unknown world setting {key!r}: known ones are {', '.join(WORLD_SETTINGS)}")
        dtype, _, bounds = WORLD_SETTINGS[key]
        value = _scalar(key, tensor)
        if dtype is np.str_:
            if not isinstance(value, str) or not value:
                raise InvalidTensor(f"world setting {key!r} must be a non-empty string")
        else:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise InvalidTensor(f"world setting {key!r} must be a whole number")
            value = int(value)
            if not bounds[0] <= value <= bounds[1]:
                raise InvalidTensor(f"world setting {key!r} must be in {bounds[0]}..{bounds[1]}, not {value}")
        out[key] = value
    return out


def _scalar(key: str, tensor: dm.Tensor):
    try:
        value = tensor_utils.unpack_tensor(tensor)
    except (TypeError, ValueError) as e:
        raise InvalidTensor(f"world setting {key!r}: {e}") from e
    array = np.asarray(value)
    if array.size != 1:
        raise InvalidTensor(f"world setting {key!r} must be one value, not {array.size}")
    return array.reshape(()).item()


def actions(tensors: Mapping[int, dm.Tensor]) -> dict[str, np.ndarray]:
    """A step's actions -> the envs' dict action, each checked against its spec."""
    out = {spec.name: np.zeros(spec.shape, tensor_utils.data_type_to_np_type(spec.dtype))
           for spec in ACTIONS.values()}
    for uid, tensor in tensors.items():
        spec = ACTIONS.get(uid)
        if spec is None:
            raise InvalidTensor(f"no action has uid {uid}: the actions are "
                                f"{', '.join(f'{u} ({s.name})' for u, s in ACTIONS.items())}")
        out[spec.name] = _action(spec, tensor)
    return out


def _action(spec: dm.TensorSpec, tensor: dm.Tensor) -> np.ndarray:
    dtype = tensor_utils.data_type_to_np_type(spec.dtype)
    try:
        got = tensor_utils.get_tensor_type(tensor)
        value = np.asarray(tensor_utils.unpack_tensor(tensor))
    except (TypeError, ValueError) as e:
        raise InvalidTensor(f"action {spec.name!r}: {e}") from e
    if got != dtype:
        raise InvalidTensor(f"action {spec.name!r} is {np.dtype(dtype).name}, not {np.dtype(got).name}")
    if value.ndim != len(spec.shape):
        raise InvalidTensor(f"action {spec.name!r} has shape {list(spec.shape)}, not {list(value.shape)}")
    try:
        value = np.broadcast_to(value, tuple(spec.shape))  # one value for a whole vector is fine
    except ValueError:
        raise InvalidTensor(f"action {spec.name!r} has shape {list(spec.shape)}, not {list(value.shape)}") from None
    bounds = tensor_spec_utils.bounds(spec)
    if value.dtype.kind == "f" and np.isnan(value).any():
        raise InvalidTensor(f"action {spec.name!r} is not a number")
    if np.any(value < bounds.min) or np.any(value > bounds.max):
        raise InvalidTensor(f"action {spec.name!r} must be in {bounds.min}..{bounds.max}, not {value.tolist()}")
    return value


def check_requested(uids) -> None:
    """Every requested observation uid is one of OBSERVATIONS (checked before a step acts)."""
    for uid in uids:
        if uid not in OBSERVATIONS:
            raise InvalidTensor(f"no observation has uid {uid}: the observations are "
                                f"{', '.join(f'{u} ({s.name})' for u, s in OBSERVATIONS.items())}")


def observations(requested, features_row: np.ndarray, reward: float, frame: int) -> dict[int, dm.Tensor]:
    """The requested observations, each once."""
    values = {1: np.asarray(features_row, np.float32), 2: np.float32(reward), 3: np.int64(frame)}
    return {uid: tensor_utils.pack_tensor(values[uid], dtype=OBSERVATIONS[uid].dtype) for uid in set(requested)}
