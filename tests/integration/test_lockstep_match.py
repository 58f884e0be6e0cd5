"""The real OpenArena under the preloaded library, observed through the real daemon.

A LOCKSTEP match with 4 bots runs thousands of frames: bots move, fire, frag and
respawn, and the streamed state shows it; the state stream obeys its invariants.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict

import pytest

from gametap.client import World
from gametap.q3 import bsp
from gametap.q3.launch import GameInstall
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
MAX_FRAMES = 6000


@pytest.fixture(scope="module")
def finished_match(daemon):
    """A LOCKSTEP match run to max_frames, with every update a watcher received."""
    with daemon.client() as client:
        match = client.create_match(lockstep(max_frames=MAX_FRAMES, seed=1234, keyframe_interval=200))
        updates = list(client.watch(match.id, max_batch=1024))
        final = wait_ended(client, match.id)
        state = client.get_state(match.id)
    return match, updates, final, state


def player_timelines(updates):
    """client -> [(frame, Player)] for every frame the player changed."""
    world, out = World(), defaultdict(list)
    for u in updates:
        world.apply(u)
        body = getattr(u, u.WhichOneof("update"))
        for p in body.players:
            out[p.client].append((body.frame, p))
    return out


def test_max_frames_stops_at_exactly_that_frame(finished_match):
    _, updates, final, state = finished_match
    assert final.status == mpb.FINISHED, final.failure
    assert final.frame == MAX_FRAMES
    assert state.frame == MAX_FRAMES
    last = updates[-1]
    assert getattr(last, last.WhichOneof("update")).frame == MAX_FRAMES  # the stream ended after that frame


def test_stream_starts_with_a_keyframe_and_frames_are_consecutive(finished_match):
    _, updates, _, _ = finished_match
    assert updates[0].WhichOneof("update") == "keyframe"
    previous = None
    for u in updates:
        kind = u.WhichOneof("update")
        frame = getattr(u, kind).frame
        if kind == "delta":
            assert previous is not None and frame == previous + 1, f"delta {frame} after {previous}"
        previous = frame


def test_keyframe_plus_deltas_equals_get_state(finished_match):
    _, updates, _, state = finished_match
    world = World()
    for u in updates:
        world.apply(u)
    assert world.frame == state.frame
    assert world.state().SerializeToString(deterministic=True) == state.SerializeToString(deterministic=True)


def test_four_bots_play_within_the_map(finished_match):
    match, updates, _, state = finished_match
    assert sorted(p.name for p in state.players) == sorted(b.name for b in match.config.bots)
    assert all(p.controller == wpb.CONTROLLER_BOT and p.skill == 3 for p in state.players)
    mins, maxs = bsp.world_bounds(bsp.read_map(GameInstall().basepath, "oa_dm1"))
    for client, timeline in player_timelines(updates).items():
        path = [(p.origin.x, p.origin.y, p.origin.z) for _, p in timeline if p.alive]
        for point in path:
            assert all(lo - 1 <= v <= hi + 1 for v, lo, hi in zip(point, mins, maxs)), f"client {client} at {point}"
        travelled = sum(math.dist(a, b) for a, b in zip(path, path[1:]))
        assert travelled > 2000, f"client {client} moved only {travelled:.0f} units"
        yaws = {round(p.view_angles.y) for _, p in timeline}
        assert len(yaws) > 20, f"client {client} hardly turned"


def test_bots_fire_take_damage_die_and_respawn(finished_match):
    _, updates, _, _ = finished_match
    missiles = {e.owner for u in updates for e in getattr(u, u.WhichOneof("update")).entities
                if e.type == wpb.ENTITY_TYPE_MISSILE}
    fired = set(missiles)
    for client, timeline in player_timelines(updates).items():
        ammo = [sum(a for a in p.ammo if a > 0) for _, p in timeline]
        if any(b < a for a, b in zip(ammo, ammo[1:])):
            fired.add(client)
        health = [p.health for _, p in timeline]
        alive = [p.alive for _, p in timeline]
        assert any(b < a for a, b in zip(health, health[1:])), f"client {client} never lost health"
        died = [i for i, (a, b) in enumerate(zip(alive, alive[1:])) if a and not b]
        assert died, f"client {client} never died"
        respawned = [i for i in died if any(alive[i + 1:])]
        assert respawned, f"client {client} never respawned"
        assert max(health) >= 100  # spawns with full health (125, ticking down to 100)
    assert len(fired) >= 3, f"only clients {sorted(fired)} fired"


def test_kill_events_match_the_game_log_and_scores(finished_match, daemon):
    match, updates, _, state = finished_match
    kills = [e.kill for u in updates for e in getattr(u, u.WhichOneof("update")).events if e.HasField("kill")]
    log = daemon.game_log(match.id)
    log_kills = [tuple(map(int, m)) for m in re.findall(r"^Kill: (\d+) (\d+) (\d+):", log, re.M)]
    assert len(kills) == len(log_kills) > 5
    assert [(k.attacker if k.attacker >= 0 else 1022, k.victim, k.means_of_death) for k in kills] == log_kills
    scores = {p.client: p.score for p in state.players}
    logged = {int(c): int(v) for c, v in re.findall(r"^PlayerScore: (\d+) (-?\d+):", log, re.M)}  # the last wins
    assert scores == {c: logged.get(c, 0) for c in scores}
    score = defaultdict(int)
    for k in kills:  # a frag is +1 for its killer; a suicide or the world's kill -1, but never below 0 (a
        if k.attacker != k.victim and k.attacker >= 0:  # suicide at 0 logs no PlayerScore line in OA 0.8.8)
            score[k.attacker] += 1
        else:
            score[k.victim] = max(0, score[k.victim] - 1)
    assert scores == {c: score[c] for c in scores}
    deaths = defaultdict(int)
    for k in kills:
        deaths[k.victim] += 1
    assert {p.client: p.deaths for p in state.players} == {p.client: deaths[p.client] for p in state.players}


def test_frag_limit_ends_the_match_with_the_games_own_scores(client, daemon):
    match = client.create_match(lockstep(frag_limit=5, seed=99, max_frames=60000))
    final = wait_ended(client, match.id)
    assert final.status == mpb.FINISHED, final.failure
    assert final.frame < 60000  # the game ended it, not max_frames
    state = client.get_state(match.id)
    assert state.match.phase == wpb.MATCH_PHASE_INTERMISSION and state.match.frag_limit == 5
    log = daemon.game_log(match.id)
    assert "Exit: Fraglimit hit." in log
    logged = {int(c): int(s) for s, c in re.findall(r"^score: (-?\d+)\s+ping: \d+\s+client: (\d+)", log, re.M)}
    assert logged == {p.client: p.score for p in state.players}
    assert max(logged.values()) == 5
