"""A match's reported frame rate: recent frames per second of wall time, 0 once they stop."""
from gametap.worker import match


def test_the_frame_rate_decays_to_zero_when_frames_stop(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(match.time, "monotonic", lambda: now[0])
    rate = match.FrameRate(window_s=2.0)
    for frame in range(0, 41):  # 20 frames a second for 2 s
        rate.add(frame)
        now[0] += 0.05
    assert 18 < rate.value() < 21
    now[0] += 1.0  # no frames for a second: the rate falls
    assert 0 < rate.value() < 15
    now[0] += 2.0  # none for longer than the window: 0
    assert rate.value() == 0.0


def test_a_stalled_games_last_words_are_its_engine_error():
    from gametap.worker.match import last_words
    tail = ["broadcast: print \"Angelyss^7 connected\\n\"", "********************",
            "ERROR: BG_Alloc: failed on allocation of 244 bytes", "********************",
            "----- Server Shutdown (Server crashed: BG_Alloc: failed on allocation of 244 bytes) -----",
            "AAS shutdown.", "forcefully unloading qagame vm", "---------------------------"]
    assert last_words(tail) == "ERROR: BG_Alloc: failed on allocation of 244 bytes"
    assert last_words(["a", "b", "c", "d"]) == "b | c | d"  # killserver prints no error
