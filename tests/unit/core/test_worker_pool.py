"""The WorkerPool (gametap.daemon.pool) with real worker processes running fake matches:
placement over the workers, and a worker that dies."""
import asyncio
import os
import signal

from gametap.daemon.pool import WorkerPool
from gametap.testing import pid_alive
from gametap.v1 import match_pb2 as mpb

from .play import realtime, run, until

TIMEOUT_S = 40.0  # two workers start (a second each), one is killed and started again


async def running(pool: WorkerPool, match_id: str, timeout: float = 10.0) -> mpb.Match:
    """The match once its game runs, as its worker reports it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (m := await pool.get(match_id)).status == mpb.STARTING:
        if loop.time() > deadline:
            raise AssertionError(f"match {match_id} did not leave STARTING")
        await asyncio.sleep(0.05)
    return m


def test_matches_spread_over_the_workers_and_a_placement_group_stays_together(settings):
    async def main():
        pool = WorkerPool(settings)
        await pool.start()
        try:
            spread = [await pool.create(realtime(seed=i + 1)) for i in range(4)]
            grouped = [await pool.create(realtime(seed=9), placement_group="team") for _ in range(2)]
            live = [await running(pool, m.id) for m in spread + grouped]
        finally:
            await pool.shutdown()
        return spread, grouped, live, [await pool.get(m.id) for m in spread]
    spread, grouped, live, after = run(main(), TIMEOUT_S)
    assert [m.placement.worker for m in spread] == [0, 1, 0, 1]
    assert grouped[0].placement.worker == grouped[1].placement.worker
    assert all(m.status == mpb.RUNNING and m.pid for m in live)
    assert not any(pid_alive(m.pid) for m in live)  # the workers took their games along
    assert all(m.status == mpb.STOPPED for m in after)


def test_a_dead_worker_fails_its_matches_and_another_takes_its_place(settings):
    async def main():
        pool = WorkerPool(settings)
        await pool.start()
        try:
            doomed, spared = [await pool.create(realtime(seed=i + 1)) for i in range(2)]
            game_pid = (await running(pool, doomed.id)).pid
            await running(pool, spared.id)
            dead_pid = pool.workers[doomed.placement.worker].pid
            os.kill(dead_pid, signal.SIGKILL)
            failed = await until(lambda: (m := pool.record(doomed.id)).status == mpb.FAILED and m, 10,
                                 "the dead worker's match to fail")
            await until(lambda: not pid_alive(game_pid), 10, "its game to end with it")
            w = pool.workers[doomed.placement.worker]
            await until(lambda: w.alive and w.ready.done() and w.pid != dead_pid, 15, "a new worker")
            replacement = await running(pool, (await pool.create(realtime(seed=3))).id)
            other = await pool.get(spared.id)
        finally:
            await pool.shutdown()
        return doomed, dead_pid, failed, other, replacement, w.pid
    doomed, dead_pid, failed, other, replacement, new_pid = run(main(), TIMEOUT_S)
    assert failed.failure.startswith(f"its worker process {doomed.placement.worker} (pid {dead_pid}) killed by SIGKILL")
    assert "its recording reaches frame" in failed.failure
    assert other.status == mpb.RUNNING  # the other worker's match carried on
    assert replacement.status == mpb.RUNNING
    assert (replacement.placement.worker, replacement.placement.worker_pid) == (doomed.placement.worker, new_pid)
