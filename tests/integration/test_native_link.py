"""libgametap_q3 inside the real ioq3ded, against a scripted daemon speaking the link protocol.

Covers what the daemon never does on purpose: going away mid-game, refusing the
game module, speaking another protocol version, sending garbage.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from gametap.core.settings import DEFAULT_LIBRARY
from gametap.q3.launch import GameInstall
from gametap.worker.link import protocol as lp

pytestmark = pytest.mark.game
WELCOME = {"protocol": lp.PROTOCOL_VERSION, "clock": "lockstep", "capture": True, "seed": 5,
           "epoch_s": 1_700_000_000, "flush_frames": 8}


class ScriptedGame:
    """ioq3ded with the library preloaded, linked to this test instead of the daemon."""

    def __init__(self, tmp_path, env_extra=None, link=True):
        install = GameInstall()
        self.sock, theirs = socket.socketpair()
        env = dict(os.environ, LD_PRELOAD=str(DEFAULT_LIBRARY), **(env_extra or {}))
        if link:
            env["GAMETAP_LINK_FD"] = str(theirs.fileno())
        argv = [str(install.binary), "+set", "dedicated", "1", "+set", "com_basegame", "baseoa",
                "+set", "fs_basepath", str(install.basepath), "+set", "fs_homepath", str(tmp_path),
                "+set", "net_enabled", "0", "+set", "sv_fps", "20", "+map", "oa_dm1", "+addbot", "Sarge", "1"]
        self.proc = subprocess.Popen(argv, env=env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        theirs.close()
        self.buffer = b""
        self.pending: list = []
        self.sock.settimeout(30)

    def next_message(self):
        while not self.pending:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buffer += data
            while len(self.buffer) >= lp.HEADER.size:  # split messages (the test reads their headers only)
                size, msg_type, _ = lp.HEADER.unpack_from(self.buffer)
                if len(self.buffer) < lp.HEADER.size + size:
                    break
                self.pending.append((lp.MsgType(msg_type), self.buffer[lp.HEADER.size:lp.HEADER.size + size]))
                self.buffer = self.buffer[lp.HEADER.size + size:]
        return self.pending.pop(0)

    def expect(self, msg_type):
        while (msg := self.next_message()) is not None:
            if msg[0] == msg_type:
                return msg[1]
        raise AssertionError(f"link closed before {msg_type.name}")

    def send(self, data: bytes):
        self.sock.sendall(data)

    def handshake(self, welcome=WELCOME, module_ok=None):
        hello = lp.decode_msgpack(lp.MsgType.HELLO, self.expect(lp.MsgType.HELLO))
        assert hello["protocol"] == lp.PROTOCOL_VERSION and hello["pid"] == self.proc.pid
        self.send(lp.encode_msgpack(lp.MsgType.WELCOME, welcome))
        if welcome.get("protocol") != lp.PROTOCOL_VERSION:
            return None
        module = lp.decode_msgpack(lp.MsgType.MODULE, self.expect(lp.MsgType.MODULE))
        self.send(lp.encode_msgpack(lp.MsgType.MODULE_OK, module_ok or {"ok": True}))
        return module

    def finish(self, timeout=30) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        self.sock.close()
        return self.proc.returncode, out.decode(errors="replace")


def frame_head(payload: bytes) -> tuple[int, int]:
    """(frame, level_time_ms) of a FRAME payload."""
    return lp.FRAME_HEADER.unpack_from(payload)[:2]


def test_handshake_reports_the_module_and_frames_follow(tmp_path):
    g = ScriptedGame(tmp_path)
    module = g.handshake()
    assert module["path"].endswith("qagamex86_64.so")
    assert module["build_id"] == "e325b43c5d58aeec76bf731aedc9be03046c87e5"
    assert (module["gentity_size"], module["gclient_size"]) == (952, 2128)
    times = [frame_head(g.expect(lp.MsgType.FRAME))[1] for _ in range(40)]
    steps = {b - a for a, b in zip(times[8:], times[9:])}
    assert steps == {50}  # virtual time: exactly 1000/sv_fps per frame
    g.send(lp.encode_message(lp.MsgType.COMMAND, b"quit"))
    code, out = g.finish()
    assert code == 0


def test_daemon_going_away_ends_the_game_cleanly(tmp_path):
    g = ScriptedGame(tmp_path)
    g.handshake()
    for _ in range(20):
        g.expect(lp.MsgType.FRAME)
    g.sock.close()
    code, out = g.finish()
    assert code == 0
    assert "gametap:" in out and "ending the game" in out
    assert "ShutdownGame" in out


def test_unknown_module_is_refused_with_the_daemons_reason(tmp_path):
    g = ScriptedGame(tmp_path)
    g.handshake(module_ok={"ok": False, "reason": "unknown game module (build-id 1234)"})
    code, out = g.finish()
    assert "gametap: unknown game module (build-id 1234); ending the game" in out
    assert code == 0


def test_wrong_protocol_version_is_refused_by_the_library(tmp_path):
    g = ScriptedGame(tmp_path)
    g.handshake(welcome=dict(WELCOME, protocol=99))
    error = g.expect(lp.MsgType.ERROR)
    assert "protocol 99" in lp.decode_msgpack(lp.MsgType.ERROR, error)["message"]
    code, out = g.finish()
    assert code == 1 and "link protocol 99" in out


@pytest.mark.parametrize("garbage, message", [
    (lp.HEADER.pack(0, 77, 0), "unexpected message (type 77)"),
    (lp.encode_message(lp.MsgType.COMMAND, b"say \x00hi"), "malformed console command"),
    (lp.HEADER.pack(lp.MAX_PAYLOAD + 1, lp.MsgType.COMMAND, 0), "oversized message"),
    (lp.encode_message(lp.MsgType.CONTROL, b"\x01\x02"), "malformed CONTROL"),
    (lp.encode_message(lp.MsgType.CONTROL, lp.CONTROL_HEADER.pack(lp.RUN_FREE, 2, 0) + bytes(16)), "malformed CONTROL"),
    (lp.encode_control(lp.RUN_FREE, lp.ACTION_RECORD.pack(99, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)), "malformed CONTROL"),
])
def test_garbage_from_the_daemon_ends_the_game_with_a_message(tmp_path, garbage, message):
    g = ScriptedGame(tmp_path)
    g.handshake()
    g.expect(lp.MsgType.FRAME)
    g.send(garbage)
    code, out = g.finish()
    assert message in out and code == 0


def test_control_gates_a_lockstep_game_and_waiting_reports_the_frame(tmp_path):
    g = ScriptedGame(tmp_path)
    g.handshake(welcome=dict(WELCOME, run_until=3, flush_frames=1))
    frames = [frame_head(g.expect(lp.MsgType.FRAME))[0] for _ in range(3)]
    waiting = lp.WAITING.unpack(g.expect(lp.MsgType.WAITING))
    assert frames == [1, 2, 3] and waiting[0] == 3  # it stopped after run_until and said so
    g.send(lp.encode_control(10))
    later = [frame_head(g.expect(lp.MsgType.FRAME))[0] for _ in range(7)]
    frame, busy_us = lp.WAITING.unpack(g.expect(lp.MsgType.WAITING))
    assert later == list(range(4, 11)) and frame == 10 and 0 < busy_us < 10_000_000
    g.send(lp.encode_control(lp.RUN_FREE) + lp.encode_message(lp.MsgType.COMMAND, b"quit"))
    code, _ = g.finish()
    assert code == 0


def test_bad_link_descriptor_is_reported(tmp_path):
    g = ScriptedGame(tmp_path, env_extra={"GAMETAP_LINK_FD": "99"}, link=False)
    code, out = g.finish()
    assert code == 1 and "GAMETAP_LINK_FD=99 is not an open descriptor" in out


def test_without_a_link_the_library_is_inert(tmp_path):
    g = ScriptedGame(tmp_path, link=False)
    time.sleep(2)
    g.proc.terminate()
    code, out = g.finish()
    assert "InitGame" in out and "gametap" not in out
