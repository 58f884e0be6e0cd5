"""Debian's OpenArena client (package openarena), unmodified, on a private Xvfb display with
software GL, driven by xdotool: a human player for tests."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

CLIENT = Path("/usr/games/openarena")
TOOLS = (CLIENT, Path("/usr/bin/Xvfb"), Path("/usr/bin/xdotool"))


def missing() -> list[str]:
    return [str(t) for t in TOOLS if not t.exists()]


class StockClient:
    def __init__(self, home: Path, port: int, name: str, client_port: int = 27960, password: str = ""):
        """Connects to 127.0.0.1:port as `name`; home holds its config (and cl_guid: the same
        home is the same player). client_port: the UDP port it sends from; password: the
        server's join password, as a player sets it (its `password` cvar)."""
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / f"client-{name}.log"
        read, write = os.pipe()  # Xvfb writes its display number here once it is ready
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                                     pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as f:
            self.display = ":" + f.readline().strip()
        env = dict(os.environ, HOME=str(home), DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1")
        self.proc = subprocess.Popen(
            [str(CLIENT), "+set", "r_mode", "3", "+set", "s_initsound", "0", "+set", "in_mouse", "0",
             "+set", "net_port", str(client_port), "+set", "name", name, "+set", "password", password,
             "+connect", f"127.0.0.1:{port}"],
            env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=self.display), capture_output=True,
                              text=True, timeout=30, check=True).stdout

    def hold(self, key: str, seconds: float) -> None:
        """Holds a key down in the game's window (default binds: w is +forward)."""
        window = self._xdotool("search", "--sync", "--name", "ioquake3").split()[0]
        self._xdotool("windowfocus", "--sync", window)
        self._xdotool("keydown", key)
        try:
            time.sleep(seconds)
        finally:
            self._xdotool("keyup", key)

    def kill(self) -> None:
        """Gone at once, saying nothing to the server (SIGKILL)."""
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """Quits as a player would (SIGTERM: the client tells the server it disconnects)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.xvfb.terminate()
        self.xvfb.wait(15)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
