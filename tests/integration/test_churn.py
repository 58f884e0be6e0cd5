"""Matches come and go for weeks: no process may grow with the number of matches it has run.

A shorter version of `make bench`'s churn part (benchmarks/churn.py). Two rounds of the same
mix, plain matches (gametap.testing.churn) and vector env episodes (one match each, over
PlayMany) at once: the first fills what every worker keeps of its ended matches
(Settings.max_finished_matches), the second is measured. Before the fixes a worker grew by about
1.2 MB per plain match (a link's read buffer, freed only by a full collection that never came)
and 200 KB per env episode (agent_wait_s's timer held the match for ten minutes). The bound
catches a leak of 100 KB per match.
"""
from __future__ import annotations

import threading

import pytest

from gametap.testing import churn, footprint, start_daemon, vector_episodes
from gametap.v1 import match_pb2 as mpb

pytestmark = pytest.mark.game

MATCHES, EPISODES = 160, 40  # a round: plain matches and env episodes (more than a worker keeps, 100)
LEAK_KB_PER_MATCH = 40       # the bound, well under the 100 KB per match it must catch
FD_SLACK = 8                 # sockets that come and go with the calls in flight


def one_round(d, client) -> None:
    episodes = []
    player = threading.Thread(target=lambda: episodes.append(vector_episodes(d.grpc, EPISODES)))
    player.start()
    ended = churn(client, MATCHES)
    player.join(300)
    assert episodes and episodes[0] >= EPISODES
    assert {mpb.MatchStatus.Name(m.status) for m in ended} <= {"FINISHED", "STOPPED"}, [m.failure for m in ended]


def test_no_process_grows_with_the_matches_it_runs(tmp_path):
    # One worker runs every match, so each figure is per match it ran (the bench runs several).
    d = start_daemon(tmp_path / "state", "--no-default-match", "--workers", "1")
    try:
        with d.client() as client:
            one_round(d, client)
            pids = {"daemon": d.proc.pid, "worker": d.worker_pids()[0]}
            before = {name: footprint(pid) for name, pid in pids.items()}
            one_round(d, client)
            after = {name: footprint(pid) for name, pid in pids.items()}
    finally:
        d.stop()
    report = ", ".join(f"{n}: {before[n].rss_kb // 1024} -> {after[n].rss_kb // 1024} MB, "
                       f"{before[n].fds} -> {after[n].fds} fds" for n in pids)
    for name in pids:
        assert after[name].rss_kb - before[name].rss_kb < LEAK_KB_PER_MATCH * (MATCHES + EPISODES), report
        assert after[name].fds <= before[name].fds + FD_SLACK, report
