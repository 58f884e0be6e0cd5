"""The fake game's end of the link: what native/src/link.c is inside ioq3ded, in Python.

The same socket ($GAMETAP_LINK_FD), framing, handshake and messages, built with the
protocol module's encoders: HELLO, WELCOME, MODULE / MODULE_OK, then FRAMEs and WAITINGs
out, COMMANDs and CONTROLs in, END at max_frames. Any breach ends the game (LinkFailed),
as gt_link_fail does.
"""
from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable

from gametap.worker.link import protocol as lp

HANDSHAKE_TIMEOUT_S = 30.0
# The library asks for a 1 MiB send buffer for OpenArena's frames; the fake's are a hundred
# times smaller, and a buffer to match keeps how far the game can run ahead of its worker alike
# (a Python world core is slower than the fake game: 1 MiB was seconds of backlog).
SEND_BUFFER = 64 * 1024
AUTO_FLUSH_BYTES = SEND_BUFFER // 2
READ_SIZE = 65536
_ACTION_FLAGS = lp.ActionFlags.OVERRIDE | lp.ActionFlags.VISIBILITY


class LinkFailed(Exception):
    """The link is gone or broken; the game ends, saying this."""


class GameSide:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._in = bytearray()
        self._out = bytearray()
        self.on_command: Callable[[str], None] = lambda text: None
        self.on_control: Callable[[int, list[tuple]], None] = lambda run_until, actions: None

    @classmethod
    def from_env(cls) -> GameSide:
        sock = socket.socket(fileno=int(os.environ["GAMETAP_LINK_FD"]))
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        return cls(sock)

    # ---- sending ----

    def send(self, message: bytes) -> None:
        self._out += message
        if len(self._out) >= AUTO_FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        try:
            self.sock.sendall(self._out)
        except OSError as e:
            raise LinkFailed(f"lost the link to the daemon ({e.strerror})") from None
        finally:
            self._out.clear()

    def handshake(self) -> dict:
        """HELLO, then the daemon's WELCOME (its run settings)."""
        self.send(lp.encode_msgpack(lp.MsgType.HELLO, {"protocol": lp.PROTOCOL_VERSION, "pid": os.getpid(),
                                                       "library": "gametap-fake"}))
        self.flush()
        welcome = lp.decode_msgpack(lp.MsgType.WELCOME, self.wait_for(lp.MsgType.WELCOME, "WELCOME"))
        if welcome.get("protocol") != lp.PROTOCOL_VERSION:
            message = f"the daemon speaks link protocol {welcome.get('protocol')!r}, this game {lp.PROTOCOL_VERSION}"
            self.send(lp.encode_msgpack(lp.MsgType.ERROR, {"message": message}))
            self.flush()
            raise LinkFailed(message)
        return welcome

    def check_module(self, fields: dict) -> str | None:
        """MODULE, then MODULE_OK: None if the daemon accepts the module, else its reason."""
        self.send(lp.encode_msgpack(lp.MsgType.MODULE, fields))
        self.flush()
        answer = lp.decode_msgpack(lp.MsgType.MODULE_OK, self.wait_for(lp.MsgType.MODULE_OK, "MODULE_OK"))
        return None if answer.get("ok") else str(answer.get("reason", "refused"))

    def waiting(self, frame: int, busy_us: int) -> None:
        self.send(lp.encode_waiting(frame, min(busy_us, 0xFFFFFFFF)))
        self.flush()

    def end(self, reason: str, frame: int) -> None:
        self.send(lp.encode_msgpack(lp.MsgType.END, {"reason": reason, "frame": frame}))
        self.flush()

    # ---- receiving ----

    def poll(self, timeout: float | None) -> None:
        """Handles what the daemon sent, waiting up to timeout seconds (None: until something comes)."""
        self._fill(timeout)
        while self._fill(0):
            pass
        while (message := self._pop()) is not None:
            self._dispatch(*message)

    def wait_for(self, want: lp.MsgType, what: str) -> bytes:
        """The payload of the next message of type `want`; the others are handled on the way."""
        while True:
            message = self._pop()
            if message is not None:
                if message[0] == want:
                    return message[1]
                self._dispatch(*message)
            elif not self._fill(HANDSHAKE_TIMEOUT_S):
                raise LinkFailed(f"no {what} from the daemon within {HANDSHAKE_TIMEOUT_S:.0f} s")

    def _fill(self, timeout: float | None) -> bool:
        """Reads what is there (waiting up to timeout); False if nothing came."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return False
        try:
            data = self.sock.recv(READ_SIZE)
        except OSError as e:
            raise LinkFailed(f"lost the link to the daemon ({e.strerror})") from None
        if not data:
            raise LinkFailed("the daemon closed the link")
        self._in += data
        return True

    def _pop(self) -> tuple[int, bytes] | None:
        if len(self._in) < lp.HEADER.size:
            return None
        size, msg_type, _ = lp.HEADER.unpack_from(self._in)
        if size > lp.MAX_PAYLOAD:
            raise LinkFailed("the daemon sent an oversized message")
        if len(self._in) < lp.HEADER.size + size:
            return None
        payload = bytes(self._in[lp.HEADER.size:lp.HEADER.size + size])
        del self._in[:lp.HEADER.size + size]
        return msg_type, payload

    def _dispatch(self, msg_type: int, payload: bytes) -> None:
        if msg_type == lp.MsgType.COMMAND:
            if not payload or len(payload) >= 1024 or b"\0" in payload:
                raise LinkFailed("the daemon sent a malformed console command")
            self.on_command(payload.decode("utf-8", "replace"))
        elif msg_type == lp.MsgType.CONTROL:
            self.on_control(*parse_control(payload))
        elif msg_type == lp.MsgType.ERROR:
            fields = lp.decode_msgpack(lp.MsgType.ERROR, payload)
            raise LinkFailed(str(fields.get("message", "the daemon sent an error")))
        else:
            raise LinkFailed(f"the daemon sent an unexpected message (type {msg_type})")


def parse_control(payload: bytes) -> tuple[int, list[tuple]]:
    """A CONTROL payload: (run_until, [ACTION_RECORD fields]); LinkFailed if malformed."""
    if len(payload) < lp.CONTROL_HEADER.size:
        raise LinkFailed("the daemon sent a malformed CONTROL message")
    run_until, n, reserved = lp.CONTROL_HEADER.unpack_from(payload)
    if reserved or len(payload) != lp.CONTROL_HEADER.size + n * lp.ACTION_RECORD.size:
        raise LinkFailed("the daemon sent a malformed CONTROL message")
    actions = [lp.ACTION_RECORD.unpack_from(payload, lp.CONTROL_HEADER.size + i * lp.ACTION_RECORD.size)
               for i in range(n)]
    if any(a[0] >= 64 or a[1] & ~_ACTION_FLAGS or a[10] for a in actions):
        raise LinkFailed("the daemon sent a malformed CONTROL message")
    return run_until, actions
