"""The fake game: gametap's game boundary without a game binary (docs/fake-game.md).

Its game process (`python -m gametap.games.fake`) speaks the real link protocol to the
worker, as libgametap_q3 does inside ioq3ded, over a trivial deterministic world: players
on a plane who run for a goal. The daemon's core (matches, the lockstep gate, workers,
recordings, hubs, agents, PlayMany) runs unchanged on top, so its tests take seconds.
"""
