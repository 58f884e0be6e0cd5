"""The LOCKSTEP gate (gametap.worker.agents.host) over a real game process: a frame runs only when
every stream due to act has acted, timed out, or left."""
import asyncio

from .play import Agent, lockstep, run, start, until

PATIENT_MS = 10_000  # an action timeout no step in these tests reaches


async def two_agents(settings, second_timeout_ms: int = PATIENT_MS):
    """A match held for two streams of one slot each, both at their first observation."""
    _, match = await start(settings, lockstep(hold_for_agents=2))
    a, b = Agent(match, "a", action_timeout_ms=PATIENT_MS), Agent(match, "b", action_timeout_ms=second_timeout_ms)
    await a.joined(), await b.joined()
    first = (await a.observe()).frame
    assert (await b.observe()).frame == first
    return match, a, b, first


def test_the_game_waits_until_every_agent_has_acted(settings):
    async def main():
        match, a, b, first = await two_agents(settings)
        a.act()
        await asyncio.sleep(0.3)
        held = (match.world.frame, match.agents.waiting, a.pending())
        b.act()
        after = ((await a.observe()).frame, (await b.observe()).frame)
        await match.stop()
        return first, held, after, match.agents.action_timeouts
    first, held, after, timeouts = run(main())
    assert held == (first, first, 0)  # a acted, b did not: the game stayed where both observed it
    assert after == (first + 1, first + 1) and timeouts == 0


def test_a_join_pauses_a_free_running_game_at_its_first_observation(settings):
    async def main():
        _, match = await start(settings, lockstep())
        await until(lambda: match.world.frame > 50, what="the game to run free")
        agent = Agent(match, "a", action_timeout_ms=PATIENT_MS)
        await agent.joined()
        frame = (await agent.observe()).frame
        await asyncio.sleep(0.2)
        still = match.world.frame
        await match.stop()
        return frame, still
    frame, still = run(main())
    assert frame > 50 and still == frame


def test_a_late_agent_times_out_and_its_late_answer_is_ignored(settings):
    async def main():
        match, prompt, late, first = await two_agents(settings, second_timeout_ms=300)
        loop = asyncio.get_running_loop()
        acted_at = loop.time()
        prompt.act()
        second = (await prompt.observe()).frame
        waited = loop.time() - acted_at
        assert (await late.observe()).frame == second
        late.act(frame=first)  # the answer to the step that went on without it: ignored
        prompt.act()
        await asyncio.sleep(0.1)
        held = match.world.frame  # the late agent has still to answer `second`
        late.act()
        third = (await prompt.observe()).frame
        await match.stop()
        return first, second, third, held, waited, match.agents.action_timeouts
    first, second, third, held, waited, timeouts = run(main())
    assert second == first + 1 and waited >= 0.25
    assert timeouts == 1
    assert held == second and third == second + 1


def test_an_agent_that_leaves_no_longer_holds_the_game(settings):
    async def main():
        match, stays, goes, first = await two_agents(settings)
        stays.act()
        goes.leave()
        frames = []
        for _ in range(3):
            frames.append((await stays.observe()).frame)
            stays.act()
        await until(lambda: not match.world.has_player(goes.clients[0]), what="the leaver's player to go")
        players = [c for c, _, _ in match.world.players()]
        await match.stop()
        return first, frames, players, goes, stays, match.agents.action_timeouts
    first, frames, players, goes, stays, timeouts = run(main())
    assert frames == [first + 1, first + 2, first + 3] and timeouts == 0
    assert goes.clients[0] not in players and stays.clients[0] in players
    assert not goes.session.active


def test_a_slot_kicked_from_the_console_is_reported_and_not_waited_for(settings):
    async def main():
        _, match = await start(settings, lockstep(hold_for_agents=2))
        agent = Agent(match, "a", "b", action_timeout_ms=PATIENT_MS)
        kept, kicked = await agent.joined()
        await agent.observe()
        match.link.send_command(f"clientkick {kicked}")  # runs once the game is let on, as OpenArena's console
        steps = []
        for _ in range(3):
            agent.act()
            obs = await agent.observe()
            steps.append((obs.frame, list(obs.left), [s.client for s in obs.slots]))
        await match.stop()
        return kept, kicked, steps, match.agents.action_timeouts
    kept, kicked, steps, timeouts = run(main())
    lost = [i for i, (_, left, _) in enumerate(steps) if left]
    assert len(lost) == 1 and steps[lost[0]][1] == [kicked]  # reported once
    assert all(slots == [kept] for _, _, slots in steps[lost[0]:])
    assert [f for f, _, _ in steps] == list(range(steps[0][0], steps[0][0] + 3)) and timeouts == 0
