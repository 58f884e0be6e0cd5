"""The peer: ViZDoom's throughput, measured the way the bench measures gametap, so the two sit side by side.

ViZDoom is what a researcher would pick instead of gametap for a Doom-like FPS environment, so its
figures are the ones gametap's should be read against. Measured here, on the same machine:

- one game: multi.cfg, map01, `-host 1 -deathmatch`, 3 bots, Mode.PLAYER, 160x120, window hidden,
  sound off; one step = one make_action(tics=1) + one get_state();
- n such games at once, one process each, counted over the same wall-clock window;
- 4 agents in one match over the engine's own netcode (one hosts, 3 join on loopback) with 4 bots.

Each game runs in its own process. The parent waits until every game is initialised, lets them go,
and reads their step counters and their CPU (the Python process and the `vizdoom` engine process it
drives) from /proc at the start and the end of the window.

    python benchmarks/vizdoom_peer.py --seconds 10
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback

INIT_TIMEOUT_S = 90.0  # init() of a multiplayer game waits for everyone to join (ViZDoom's default: 60 s)
DONE_TIMEOUT_S = 30.0
WARMUP_S = 0.5  # between the start signal and the window
SINGLE_ARGS = "-host 1 -deathmatch"
LOG = "game.log"  # in each game's working directory
_TICK = os.sysconf("SC_CLK_TCK")


def available() -> str | None:
    """None if ViZDoom can be imported, else why not and how to get it."""
    try:
        import vizdoom  # noqa: F401
    except ImportError as e:
        return f"ViZDoom is not installed ({e}): pip install 'gametap[bench]'"
    return None


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ..., utime [11], stime [12], ..."""
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()


def _pids(match) -> list[int]:
    """The processes whose _stat() satisfies match."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and match(_stat(entry)):
                found.append(int(entry))
        except OSError:
            pass  # gone meanwhile
    return found


# ---- in each game's process


def _new_game(game_args: str):
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.load_config(os.path.join(vzd.scenarios_path, "multi.cfg"))
    game.set_doom_map("map01")
    game.add_game_args(game_args)
    game.set_mode(vzd.Mode.PLAYER)  # synchronous: the engine advances only on make_action
    game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)  # multi.cfg says 320x240
    game.set_window_visible(False)  # multi.cfg says visible
    game.set_sound_enabled(False)
    return game


def _add_bots(game, bots: int) -> None:
    """As ViZDoom's bots example does at each episode's start (new_episode() drops them)."""
    if bots:
        game.send_game_command("removebots")
        for _ in range(bots):
            game.send_game_command("addbot")


def _play(game, i: int, bots: int, counts, stop) -> None:
    n = game.get_available_buttons_size()
    actions = [[int(b == k) for b in range(n)] for k in range(3)]  # turn left, turn right, attack
    rng = random.Random(i)
    while not stop.value:
        if game.is_episode_finished():
            game.new_episode()
            _add_bots(game, bots)
        elif game.is_player_dead():
            game.respawn_player()
        game.make_action(rng.choice(actions), 1)
        game.get_state()
        counts[i] += 1


def _watchdog(parent: int, limit_s: float, workdir: str) -> None:
    """End this process and its engine if the parent goes away or the game outlives its bound."""
    end = time.monotonic() + limit_s

    def watch() -> None:
        while os.getppid() == parent and time.monotonic() < end:
            time.sleep(0.5)
        if os.getppid() != parent:  # nobody is left to remove the run's directory
            shutil.rmtree(os.path.dirname(workdir), ignore_errors=True)
        _end_group(os.getpid())

    threading.Thread(target=watch, daemon=True).start()


def _child(i, game_args, bots, counts, stop, go, msgs, workdir, limit_s) -> None:
    os.setpgrp()  # the engine process joins this group, so one killpg ends both
    _watchdog(os.getppid(), limit_s, workdir)
    try:
        os.chdir(workdir)  # ViZDoom writes _vizdoom.ini and _vizdoom/ into the working directory
        log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)  # the engine's console chatter goes to the log, which errors quote
        os.dup2(log, 2)
        game = _new_game(game_args)
        game.init()
        _add_bots(game, bots)
        msgs.put((i, "ready", None))
        if go.wait(INIT_TIMEOUT_S):
            _play(game, i, bots, counts, stop)
        game.close()
        msgs.put((i, "done", None))
    except BaseException:
        msgs.put((i, "error", traceback.format_exc()))


def _end_group(pgid: int) -> None:
    """SIGKILL a game's process group, first removing the shared memory its engine would leave behind."""
    for pid in _pids(lambda stat: int(stat[2]) == pgid):
        try:
            args = open(f"/proc/{pid}/cmdline").read().split("\0")
        except OSError:
            continue
        if "+viz_instance_id" in args:
            for path in glob.glob(f"/dev/shm/ViZDoom*{args[args.index('+viz_instance_id') + 1]}"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
    try:
        os.killpg(pgid, signal.SIGKILL)  # a group with this id exists only if the child made it
    except (ProcessLookupError, PermissionError):
        pass


# ---- in the parent


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = _stat(pid)
        except OSError:
            continue  # a game that died: its child reports why
        total += int(stat[11]) + int(stat[12])
    return total / _TICK


def _tail(workdir: str, lines: int = 15) -> str:
    try:
        text = open(os.path.join(workdir, LOG), errors="replace").read().strip()
    except OSError:
        return ""
    return "\n--- its output ends:\n" + "\n".join(text.splitlines()[-lines:]) if text else ""


def _await(msgs, procs, dirs, kind: str, timeout: float) -> None:
    """One `kind` message from every game; a child's error is raised here, with its traceback."""
    waiting, deadline = set(range(len(procs))), time.monotonic() + timeout
    while waiting:
        try:
            i, what, text = msgs.get(timeout=0.2)
        except queue.Empty:
            if dead := [i for i in sorted(waiting) if procs[i].exitcode is not None]:
                i = dead[0]
                why = f"vizdoom game {i} exited (code {procs[i].exitcode}) before '{kind}'"
                raise RuntimeError(why + _tail(dirs[i])) from None
            if time.monotonic() > deadline:
                why = f"vizdoom games {sorted(waiting)} not '{kind}' after {timeout:.0f} s"
                raise TimeoutError(why + _tail(dirs[min(waiting)])) from None
            continue
        if what == "error":
            raise RuntimeError(f"vizdoom game {i} failed:\n{text}{_tail(dirs[i])}")
        waiting.discard(i)


def _run(games: list[tuple[str, int]], seconds: float) -> dict:
    """One process per (game args, bots); every game's steps and CPU over one common window."""
    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", len(games), lock=False)
    stop = ctx.Value("b", 0, lock=False)
    go, msgs = ctx.Event(), ctx.Queue()
    limit_s = INIT_TIMEOUT_S + WARMUP_S + seconds + DONE_TIMEOUT_S + 10
    with tempfile.TemporaryDirectory(prefix="vizdoom-peer-") as tmp:
        dirs = [os.path.join(tmp, str(i)) for i in range(len(games))]
        procs = [ctx.Process(target=_child, daemon=True, args=(i, *game, counts, stop, go, msgs, dirs[i], limit_s))
                 for i, game in enumerate(games)]
        try:
            for workdir, p in zip(dirs, procs):
                os.mkdir(workdir)
                p.start()
            _await(msgs, procs, dirs, "ready", INIT_TIMEOUT_S)
            go.set()
            time.sleep(WARMUP_S)
            groups = {p.pid for p in procs}
            pids = _pids(lambda stat: int(stat[2]) in groups)  # the games' processes and their engines
            c0, cpu0, t0 = list(counts), _cpu_s(pids), time.monotonic()
            time.sleep(seconds)
            c1, cpu1, t1 = list(counts), _cpu_s(pids), time.monotonic()
            stop.value = 1
            _await(msgs, procs, dirs, "done", DONE_TIMEOUT_S)
        finally:
            for p in procs:
                if p.pid is not None:
                    _end_group(p.pid)
                    p.kill()  # in case it had not made its group yet
                    p.join(5)
    per_game = [b - a for a, b in zip(c0, c1)]
    steps, cpu = sum(per_game), cpu1 - cpu0
    return {
        "steps_per_s": steps / (t1 - t0),
        "per_game": per_game,
        "seconds": t1 - t0,
        "cpu_s": cpu,
        "cpu_us_per_step": cpu / steps * 1e6 if steps else None,
    }


def one_game(seconds: float = 10.0) -> dict:
    """One game (multi.cfg, map01, 3 bots) in a child process: its steps/s."""
    return {"games": 1, **_run([(SINGLE_ARGS, 3)], seconds)}


def concurrent_games(n: int, seconds: float = 10.0) -> dict:
    """n independent games at once, one process each: aggregate steps/s over the same window."""
    return {"games": n, **_run([(SINGLE_ARGS, 3)] * n, seconds)}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multiplayer(agents: int = 4, bots: int = 4, seconds: float = 10.0) -> dict:
    """`agents` processes in one deathmatch over ViZDoom's netcode (one hosts, the rest join on
    loopback), the host adding `bots` once all have joined: aggregate agent-steps/s."""
    port = _free_udp_port()
    host = (f"-host {agents} -deathmatch -port {port}", bots)
    joiner = (f"-join 127.0.0.1 -port {port}", 0)
    return {"agents": agents, "bots": bots, **_run([host] + [joiner] * (agents - 1), seconds)}


def _line(name: str, r: dict) -> str:
    per_game = " ".join(f"{c / r['seconds']:,.0f}" for c in r["per_game"])
    return (f"{name:<34} {r['steps_per_s']:>8,.0f} steps/s  (per game {per_game}; "
            f"{r['cpu_us_per_step'] or 0:.0f} us CPU/step, {r['seconds']:.1f} s)")


def main() -> int:
    p = argparse.ArgumentParser(description="ViZDoom throughput, the peer of gametap's bench.")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per figure")
    args = p.parse_args()
    if (why := available()) is not None:
        print(why)
        return 1
    import vizdoom

    print(f"ViZDoom {vizdoom.__version__}: multi.cfg map01, Mode.PLAYER, 160x120, hidden, no sound")
    print(_line("one game, 3 bots", one_game(args.seconds)))
    for n in (2, 4):
        print(_line(f"{n} games at once, 3 bots each", concurrent_games(n, args.seconds)))
    print(_line("4 agents in one match, 4 bots", multiplayer(4, 4, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
