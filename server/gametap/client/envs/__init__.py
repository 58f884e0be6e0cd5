"""Gymnasium and PettingZoo environments over gametap matches (each episode one LOCKSTEP match).

- single: OpenArenaEnv (Gymnasium Env, one agent), OpenArenaParallelEnv (PettingZoo, n agents)
- vector: OpenArenaVectorEnv (Gymnasium VectorEnv over many matches), MultiAgentVectorEnv
- actions: the action formats ("dict", "box", "multidiscrete") all of them take

Importing this package registers the Gymnasium ids: gymnasium.make("gametap/OpenArena-v0")
and gymnasium.make_vec("gametap/OpenArena-v0", num_envs=8) (the vector env, over PlayMany).
"""
from dataclasses import replace

import gymnasium

from gametap.client.envs.single import (
    MatchSpec,
    OpenArenaEnv,
    OpenArenaParallelEnv,
    action_space,
    observation_space,
)
from gametap.client.envs.vector import MultiAgentVectorEnv, OpenArenaVectorEnv

ENV_ID = "gametap/OpenArena-v0"


def _make_single(**fields) -> OpenArenaEnv:
    spec = fields.pop("spec", None) or MatchSpec()
    return OpenArenaEnv(replace(spec, **fields))


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=_make_single, vector_entry_point=OpenArenaVectorEnv,
                       disable_env_checker=True)

__all__ = ["ENV_ID", "MatchSpec", "MultiAgentVectorEnv", "OpenArenaEnv", "OpenArenaParallelEnv",
           "OpenArenaVectorEnv", "action_space", "observation_space"]
