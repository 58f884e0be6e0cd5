"""GametapMultiAgentEnv: RLlib's MultiAgentEnv (the current API stack) over gametap matches.

Each episode is one LOCKSTEP match on the EnvRunner's own node, run by that node's fleet
daemon (gametap.ray.Fleet puts one on every node), so every step's gRPC stays on loopback.
The spaces are the vector envs': the feature tensor as observation, and a flat Box action
("box", gametap.client.envs.actions) unless env_config asks for another format.

    from ray.rllib.algorithms.ppo import PPOConfig
    config = (PPOConfig().environment(GametapMultiAgentEnv, env_config={"agents": 2})
              .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, *a, **k: "shared"))

All agents join at reset and leave when the match ends. A fragged agent respawns and plays
on, so no agent ends on its own before then.
"""
from __future__ import annotations

import ray
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from gametap.client.envs import MatchSpec, OpenArenaParallelEnv
from gametap.q3.v1 import world_pb2 as wpb
from gametap.ray.node import local_daemon_address

SPEC_KEYS = ("map", "frames_per_step", "max_steps", "frag_limit", "max_turn_degrees", "action_format",
             "visibility", "token", "names")


def spec_from_config(env_config: dict) -> tuple[int, MatchSpec]:
    """env_config -> (number of agents, MatchSpec). Keys: agents (2), bots ([("Sarge", 1)]: name
    and skill), server (default: this node's fleet daemon), and MatchSpec's own SPEC_KEYS."""
    unknown = set(env_config) - {"agents", "bots", "server", *SPEC_KEYS}
    if unknown:
        raise ValueError(f"unknown env_config keys {sorted(unknown)}; known: agents, bots, server, "
                         + ", ".join(SPEC_KEYS))
    bots = tuple((name, int(skill), wpb.TEAM_UNSPECIFIED) for name, skill in env_config.get("bots", [("Sarge", 1)]))
    fields = {k: env_config[k] for k in SPEC_KEYS if k in env_config}
    fields.setdefault("action_format", "box")
    if "names" in fields:
        fields["names"] = tuple(fields["names"])
    server = env_config.get("server") or local_daemon_address()
    return int(env_config.get("agents", 2)), MatchSpec(server=server, bots=bots, **fields)


class GametapMultiAgentEnv(MultiAgentEnv):
    def __init__(self, config: dict | None = None):
        super().__init__()
        n_agents, self.match_spec = spec_from_config(dict(config or {}))  # not .spec: gymnasium.make sets that
        self._env = OpenArenaParallelEnv(n_agents, self.match_spec)
        self.possible_agents = list(self._env.possible_agents)
        self.agents = []
        self.observation_spaces = {a: self._env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: self._env.action_space(a) for a in self.possible_agents}

    def placement(self) -> dict:
        """Where this env's matches run, and from where it talks to them."""
        return {"node_id": ray.get_runtime_context().get_node_id(), "server": self.match_spec.server}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self._env.reset(seed=seed, options=options)
        self.agents = list(self._env.agents)
        return obs, infos

    def step(self, action_dict: dict):
        obs, rewards, terminated, truncated, infos = self._env.step(action_dict)
        self.agents = list(self._env.agents)
        terminated["__all__"] = bool(terminated) and all(terminated.values())
        truncated["__all__"] = bool(truncated) and all(truncated.values())
        return obs, rewards, terminated, truncated, infos

    def close(self) -> None:
        self._env.close()
