"""Hub: bounded queues, lagging subscribers resynced at the next keyframe, clean end."""
import asyncio

from gametap.worker.hub import Hub


def run(coro):
    return asyncio.run(coro)


def test_subscriber_gets_keyframe_then_deltas_in_order():
    async def main():
        hub = Hub(lambda: b"K0", queue_limit=10)
        sub = hub.subscribe()
        for i in range(1, 4):
            hub.publish(f"D{i}".encode())
        return await sub.next_batch(10)
    assert run(main()) == [b"K0", b"D1", b"D2", b"D3"]


def test_batches_are_bounded_by_max_items():
    async def main():
        hub = Hub(lambda: b"K", queue_limit=100)
        sub = hub.subscribe()
        for _i in range(5):
            hub.publish(b"D")
        return [len(await sub.next_batch(2)) for _ in range(3)]
    assert run(main()) == [2, 2, 2]


def test_lagging_subscriber_skips_to_next_keyframe_and_counts_drops():
    async def main():
        hub = Hub(lambda: b"K0", queue_limit=3)
        slow, fast = hub.subscribe(), hub.subscribe()
        got_fast = []
        for i in range(1, 10):
            hub.publish(f"D{i}".encode(), f"K{i}".encode() if i == 8 else None)
            got_fast += await fast.next_batch(100)
        return await slow.next_batch(100), got_fast, slow.resyncs, hub.dropped
    slow_items, fast_items, resyncs, dropped = run(main())
    assert fast_items == [b"K0"] + [f"D{i}".encode() for i in range(1, 10)]
    assert slow_items == [b"K8", b"D9"]  # resynced at the keyframe of frame 8, then consecutive
    assert resyncs == 1
    assert dropped == 3 + 1 + 4  # queue cleared (K0, D1, D2) + D3 + D4..D7 skipped while lagging


def test_close_drains_then_ends_and_late_subscribers_get_final_state():
    async def main():
        hub = Hub(lambda: b"FINAL", queue_limit=10)
        sub = hub.subscribe()
        hub.publish(b"D1")
        hub.close()
        first = await sub.next_batch(10)
        end = await sub.next_batch(10)
        late = hub.subscribe()
        return first, end, await late.next_batch(10), await late.next_batch(10)
    assert run(main()) == ([b"FINAL", b"D1"], None, [b"FINAL"], None)


def test_waiting_subscriber_is_woken_by_publish():
    async def main():
        hub = Hub(lambda: b"K", queue_limit=10)
        sub = hub.subscribe()
        await sub.next_batch(1)
        waiter = asyncio.create_task(sub.next_batch(5))
        await asyncio.sleep(0)
        hub.publish(b"D1")
        return await asyncio.wait_for(waiter, 1)
    assert run(main()) == [b"D1"]


def test_unsubscribe_stops_delivery():
    hub = Hub(lambda: b"K", queue_limit=10)
    sub = hub.subscribe()
    sub.unsubscribe()
    hub.publish(b"D")
    assert hub.subscriber_count == 0
