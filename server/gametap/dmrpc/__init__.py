"""dm_env_rpc served over gametap: `dm_env` users and dm_env_rpc's tools play gametap matches.

dm_env_rpc (https://github.com/google-deepmind/dm_env_rpc) is one bidirectional `Process`
stream of CreateWorld / JoinWorld / Step / Reset / ResetWorld / LeaveWorld / DestroyWorld
requests, with observations and actions as named tensors described by specs at join. Here a
world is a match setup (map, bots, limits, seed), and a joined connection plays one agent in
one LOCKSTEP match per episode through gametap's own client (gametap.client.envs), so the
bridge runs wherever a client can: `gametap dm-env-rpc --listen ADDR --server DAEMON`.

- specs: the tensors (observation and action specs, settings) and their validation.
- worlds: worlds, and what a joined connection plays.
- service: the Environment servicer and its server.
"""
