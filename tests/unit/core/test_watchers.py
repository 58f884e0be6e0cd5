"""A match's Hub (gametap.worker.hub) fed by a real game: every watcher, early, late or too slow to
keep up, applies its updates without a gap and ends at the match's final state."""
import asyncio

from gametap.client.world import World
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import observe_pb2 as opb

from .play import ended, lockstep, run, start, until

CONFIG = dict(bots=("Sarge", "Grism"), max_frames=1500, keyframe_interval=50)


async def watch(sub) -> tuple[World, list[int]]:
    """Applies everything the subscriber gets (World raises on a gap); the keyframes' frames."""
    world, keyframes = World(), []
    while (batch := await sub.next_batch(1000)) is not None:
        for raw in batch:
            update = opb.WorldUpdate.FromString(raw)
            if update.HasField("keyframe"):
                keyframes.append(update.keyframe.frame)
            world.apply(update)
    return world, keyframes


def final(match) -> wpb.WorldState:
    return wpb.WorldState.FromString(match.world.state())


def test_a_watcher_from_the_start_sees_every_frame(settings):
    async def main():
        _, match = await start(settings, lockstep(**CONFIG))
        sub = match.hub.subscribe()
        world, keyframes = await watch(sub)
        await ended(match)
        return world.state(), keyframes, final(match)
    state, keyframes, end = run(main())
    assert state == end and state.frame == 1500
    assert keyframes[0] <= 1 and len(keyframes) == 1  # one keyframe, then a delta for every frame


def test_a_late_watcher_starts_from_a_keyframe_of_the_frame_then(settings):
    async def main():
        _, match = await start(settings, lockstep(**CONFIG))
        await until(lambda: match.world.frame > 300, what="the match to run a while")
        sub = match.hub.subscribe()
        world, keyframes = await watch(sub)
        await ended(match)
        return world.state(), keyframes, final(match)
    state, keyframes, end = run(main())
    assert state == end and keyframes[0] > 300


def test_a_slow_watcher_is_resynced_at_a_keyframe_and_ends_current(settings):
    async def main():
        _, match = await start(settings, lockstep(**CONFIG))
        sub = match.hub.subscribe(queue_limit=16)
        await ended(match)  # it read nothing meanwhile
        await asyncio.sleep(0)
        world, keyframes = await watch(sub)
        return world.state(), keyframes, final(match), sub.resyncs, match.hub.dropped
    state, keyframes, end, resyncs, dropped = run(main())
    assert resyncs >= 1 and dropped > 0
    assert keyframes[0] > 16 and all(k % 50 == 0 for k in keyframes)  # taken up again at a keyframe
    assert state == end
