"""The fake game's server process: a console and a frame loop around a Plane.

It does what ioq3ded with libgametap_q3 does, as far as the daemon can tell: the
handshake, then a FRAME per frame; LOCKSTEP frames wait at the gate before any frame past
run_until (WAITING), REALTIME ones run at server_fps of wall time; END and exit at max_frames.
COMMANDs are console text, run between frames as the engine's command buffer runs it (so
one that comes while the game waits at the gate runs once the next frame has); what they
print goes to stdout (the match's game.log).
"""
from __future__ import annotations

import shlex
import time

from gametap.games.fake import frames
from gametap.games.fake.link import GameSide
from gametap.games.fake.plane import Drive, Plane
from gametap.v1 import match_pb2 as mpb
from gametap.worker.link.protocol import RUN_FREE, ActionFlags


class GameError(Exception):
    """The game ends with an error (exit code 1), as the engine's error drop does."""


def degrees(units: int) -> float:
    """A CONTROL angle (65536 = 360 degrees) in -180..180 degrees."""
    d = units * 360.0 / 65536
    return d - 360.0 if d > 180.0 else d


class Server:
    def __init__(self, config: mpb.MatchConfig, link: GameSide):
        self.config = config
        self.link = link
        self.plane: Plane | None = None
        self.lockstep = False
        self.run_until = RUN_FREE
        self.quitting = False
        self.halted = False  # `killserver`: the process lives on, running no frames
        self._released_at = 0.0
        self._buffer: list[str] = []  # console text to run before the next frame
        link.on_command, link.on_control = self._buffer.append, self.control

    def run(self) -> int:
        welcome = self.link.handshake()
        self.lockstep = welcome.get("clock") == "lockstep"
        self.run_until = welcome.get("run_until", RUN_FREE)
        c = self.config
        self.plane = Plane(welcome.get("seed", c.seed), c.server_fps, c.frag_limit, c.time_limit_s, c.map)
        refusal = self.link.check_module(frames.MODULE)
        if refusal is not None:
            print(f"ERROR: the daemon refused the game module: {refusal}")
            return 1
        for bot in c.bots:
            self.plane.add(bot.name, bot.skill)
        return self._loop(welcome.get("flush_frames", 1), welcome.get("max_frames", 0))

    def _loop(self, flush_frames: int, max_frames: int) -> int:
        unflushed, next_at = 0, time.monotonic()
        while True:
            self._run_buffer()
            if self.quitting:
                break
            if self.halted:
                self.link.poll(None)
                continue
            self._gate()
            self.link.send(frames.encode(self.plane.step()))
            if max_frames and self.plane.frame >= max_frames:
                self.link.end("max_frames", self.plane.frame)
                print("reached max_frames; ending the game")
                return 0
            unflushed += 1
            if unflushed >= flush_frames:
                unflushed = 0
                self.link.flush()
                self.link.poll(0)  # commands from the daemon, once per flush
            if not self.lockstep:
                next_at += self.plane.frame_ms / 1000
                while (left := next_at - time.monotonic()) > 0:
                    self.link.poll(left)
        self.link.flush()
        return 0

    def _gate(self) -> None:
        """LOCKSTEP: before a frame past run_until, say WAITING and wait for a CONTROL that lets it run."""
        next_frame = self.plane.frame + 1
        if not self.lockstep or next_frame <= self.run_until:
            return
        busy = int((time.monotonic() - self._released_at) * 1e6) if self._released_at else 0
        self.link.waiting(next_frame - 1, busy)
        while next_frame > self.run_until:
            self.link.poll(None)
        self._released_at = time.monotonic()

    def control(self, run_until: int, actions: list[tuple]) -> None:
        self.run_until = run_until
        for client, flags, _weapon, forward, right, _up, _buttons, pitch, yaw, _roll, _ in actions:
            drive = Drive(forward / 127, right / 127, degrees(yaw), degrees(pitch))
            self.plane.drive(client, drive if flags & ActionFlags.OVERRIDE else None)  # else: back to the bot AI

    # ---- the console ----

    def _run_buffer(self) -> None:
        buffer, self._buffer[:] = list(self._buffer), []
        for text in buffer:
            self.console(text)

    def console(self, text: str) -> None:
        for line in text.splitlines():
            try:
                words = shlex.split(line)
            except ValueError:
                print(f"bad command line: {line}")
                continue
            if not words:
                continue
            command = getattr(self, f"cmd_{words[0].lower()}", None)
            if command is None:
                print(f'Unknown command "{words[0]}"')
                continue
            command(words[1:], line.strip().partition(" ")[2])

    def cmd_addbot(self, args: list[str], _rest: str) -> None:
        """addbot BOT [SKILL] [TEAM] [DELAY] [ALTNAME], as OpenArena's (teams are not modelled)"""
        if not args:
            print("Usage: addbot <botname> [skill 1-5] [team] [msec delay] [altname]")
            return
        name = args[4] if len(args) > 4 else args[0]
        client = self.plane.add(name, int(args[1]) if len(args) > 1 and args[1].isdigit() else 3)
        print("Server is full." if client is None else f"{name} entered the game (client {client})")

    def cmd_wait(self, _args, _rest) -> None:
        """Not modelled: what follows runs at once (OpenArena defers it a frame or more)."""

    def cmd_clientkick(self, args: list[str], _rest: str) -> None:
        """clientkick CLIENT"""
        ok = bool(args) and args[0].isdigit() and self.plane.remove(int(args[0]))
        print(f"client {args[0]} was kicked" if ok else f"Bad client slot: {' '.join(args)}")

    def cmd_quit(self, _args, _rest) -> None:
        self.quitting = True

    def cmd_echo(self, _args, rest: str) -> None:
        print(rest)

    def cmd_killserver(self, _args, _rest) -> None:
        self.halted = True
        print("the server is killed: no more frames")

    def cmd_error(self, _args, rest: str) -> None:
        raise GameError(rest or "error")

    def cmd_status(self, _args, _rest) -> None:
        print(f"map: {self.plane.info['map']}  frame: {self.plane.frame}")
        for client in sorted(self.plane.bodies):
            body = self.plane.bodies[client]
            print(f"{client:3d} {body.score:5d} {body.name}")

    def cmd_fraglimit(self, args: list[str], _rest) -> None:
        if args and args[0].isdigit():
            self.plane.set_limits(frag_limit=int(args[0]))
        print(f'"fraglimit" is "{self.plane.frag_limit}"')

    def cmd_timelimit(self, args: list[str], _rest) -> None:
        """timelimit MINUTES, as the game counts it"""
        if args and args[0].isdigit():
            self.plane.set_limits(time_limit_s=int(args[0]) * 60)
        print(f'"timelimit" is "{self.plane.time_limit_s // 60}"')
