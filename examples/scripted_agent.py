"""A scripted agent: aims at the nearest enemy it can see and shoots it.

Plays a LOCKSTEP match against skill-1 bots and prints the score. Run it with a
daemon serving (`make run`, or `gametap serve`):

    .venv/bin/python examples/scripted_agent.py --server 127.0.0.1:50051 --minutes 5
"""
from __future__ import annotations

import argparse
import math

from gametap.client import AgentStream, Client
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb

# Weapons in the order this agent prefers them.
PREFERRED = [wpb.WEAPON_ROCKET_LAUNCHER, wpb.WEAPON_RAILGUN, wpb.WEAPON_LIGHTNING, wpb.WEAPON_PLASMAGUN,
             wpb.WEAPON_SHOTGUN, wpb.WEAPON_MACHINEGUN, wpb.WEAPON_GAUNTLET]


def best_weapon(me: wpb.Player) -> int:
    for w in PREFERRED:
        if me.weapons_owned & (1 << w) and (me.ammo[w] != 0 or w == wpb.WEAPON_GAUNTLET):
            return w
    return wpb.WEAPON_UNSPECIFIED


def aim(me: wpb.Player, target: wpb.Player) -> tuple[float, float, float]:
    """(yaw, pitch, distance) from my eye to the target's chest."""
    dx, dy = target.origin.x - me.origin.x, target.origin.y - me.origin.y
    dz = (target.origin.z + 10) - (me.origin.z + 26)  # chest height, eye height
    flat = math.hypot(dx, dy)
    return math.degrees(math.atan2(dy, dx)), -math.degrees(math.atan2(dz, flat)), math.hypot(flat, dz)


def angle_error(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def decide(client: int, view, step: int) -> apb.Action:
    me = view.players.get(client)
    if me is None or not me.alive:
        return apb.Action(client=client, attack=step % 2 == 0)  # press fire to respawn
    enemies = [p for p in view.players.values() if p.client != client and p.alive
               and (me.team == wpb.TEAM_FREE or p.team != me.team)]
    if not enemies:
        return apb.Action(client=client, forward=1.0, yaw=me.view_angles.y + 3)  # wander
    target = min(enemies, key=lambda p: aim(me, p)[2])
    yaw, pitch, distance = aim(me, target)
    return apb.Action(
        client=client, yaw=yaw, pitch=max(-89.0, min(89.0, pitch)),
        forward=1.0 if distance > 250 else -0.5, strafe=1.0 if (step // 20) % 2 else -1.0,
        attack=angle_error(yaw, me.view_angles.y) < 12, weapon=best_weapon(me),
    )


def play(client: Client, match_id: str, frames: int, name: str = "scripted",
         action_timeout_ms: int = 0) -> tuple[int, wpb.WorldState]:
    """Plays for `frames` frames (or until the match ends); returns the agent's client number
    and the match's state just before it leaves (leaving takes its player out of the game)."""
    slots = [apb.SlotSpec(name=name, visibility=apb.PVS)]
    with AgentStream(client, match_id, slots, action_timeout_ms=action_timeout_ms) as agents:
        me = agents.clients[0]
        obs = agents.observe()
        start = obs.frame
        step = 0
        while not obs.final and obs.frame - start < frames:
            obs = agents.step([decide(me, agents.views[me], step)])
            step += 1
        return me, client.get_state(match_id)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--minutes", type=float, default=5.0, help="game time to play")
    p.add_argument("--bots", type=int, default=2, help="skill-1 opponents")
    p.add_argument("--seed", type=int, default=0, help="the match's seed (0: the daemon picks one); "
                   "the same seed plays the same match")
    args = p.parse_args()
    frames = int(args.minutes * 60 * 20)  # sv_fps 20
    with Client(args.server) as client:
        match = client.create_match(mpb.MatchConfig(
            clock=mpb.LOCKSTEP, hold_for_agents=1, seed=args.seed,
            bots=[mpb.BotConfig(name=n, skill=1) for n in ["Grism", "Major", "Merman", "Liz"][:args.bots]]))
        try:
            me, state = play(client, match.id, frames)
        finally:
            client.stop_match(match.id)
    score = next(p.score for p in state.players if p.client == me)
    print(f"after {args.minutes:g} minutes of game time the scripted agent scored {score}:")
    for p in sorted(state.players, key=lambda p: -p.score):
        print(f"  {p.name:<12} {p.score:>4} frags  ({wpb.Controller.Name(p.controller).removeprefix('CONTROLLER_').lower()})")


if __name__ == "__main__":
    main()
