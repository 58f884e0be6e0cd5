"""GameLink: the daemon's end of one game's link.

States: AWAIT_HELLO -> (WELCOME sent) RUNNING -> ENDED. A MODULE message may
come at any time while running (every map load reloads the game module) and is
answered before the game goes on. Any breach of the protocol closes the link
and is reported through `error`.

The bytes go to the game's WorldCore (gametap.core.game), which splits the messages,
applies FRAMEs and reports WAITINGs itself (the hot path); the handshake and the
other msgpack messages come back here, one at a time, in order.

The socket is driven straight from the event loop (add_reader, recv_into one reused
buffer, send) rather than through an asyncio transport: in lockstep it is read and
written once per agent step, and the transport's layers cost more than the work.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import socket
import threading
from collections.abc import Callable

from gametap.worker.link import protocol as lp

log = logging.getLogger(__name__)
READ_SIZE = 1 << 20  # bytes read at a time: a batch of free-running LOCKSTEP frames is up to 512 KiB
_read_buffers = threading.local()


def _read_buffer() -> memoryview:
    """The buffer this thread's links read into: one per thread (the event loop's), not per link.
    A link hands what it read to its core, which copies what it keeps (an unfinished message),
    before the next read; a megabyte per link was a megabyte per match a worker ever ran."""
    view = getattr(_read_buffers, "view", None)
    if view is None:
        view = _read_buffers.view = memoryview(bytearray(READ_SIZE))
    return view


class LinkState(enum.Enum):
    AWAIT_HELLO = "awaiting HELLO"
    RUNNING = "running"
    ENDED = "ended"
    CLOSED = "closed"


_ALLOWED = {
    LinkState.AWAIT_HELLO: {lp.MsgType.HELLO, lp.MsgType.ERROR},
    LinkState.RUNNING: {lp.MsgType.MODULE, lp.MsgType.END, lp.MsgType.ERROR},
    LinkState.ENDED: {lp.MsgType.ERROR},
}
_TYPES = {t.value: t for t in lp.MsgType}


class GameLink:
    def __init__(self, welcome: dict, check_module: Callable[[dict], str | None], core,
                 on_frames: Callable[[tuple], None], on_waiting: Callable[[int, int], None] | None = None):
        """welcome: the WELCOME fields; check_module(fields) returns None to accept a
        game module or the reason to refuse it; core: the match's WorldCore; on_frames
        gets every batch item of frames; on_waiting(frame, busy_us) hears that a LOCKSTEP
        game finished `frame` and waits."""
        self._welcome = dict(welcome, protocol=lp.PROTOCOL_VERSION)
        self._check_module = check_module
        self._core = core
        self._on_frames = on_frames
        self._on_waiting = on_waiting
        self._loop = asyncio.get_running_loop()
        self._sock: socket.socket | None = None
        self._read_view = _read_buffer()
        self._unsent = bytearray()  # what the socket did not take yet
        self.state = LinkState.AWAIT_HELLO
        self.hello: dict = {}
        self.module: dict = {}
        self.end: dict | None = None     # the game's END message, once it came
        self.error: str | None = None    # why the link was closed by us or by the game
        self.closed = self._loop.create_future()
        self._quitting = False           # the game was told to quit: a reset is its way out

    # ---- the socket ----

    def attach(self, sock: socket.socket) -> GameLink:
        """Starts reading the game's end of the link from `sock`."""
        sock.setblocking(False)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)
        return self

    def _readable(self) -> None:
        try:
            n = self._sock.recv_into(self._read_view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost_to(e)
            return
        if n == 0:
            self._lost(None)  # the game closed its end
            return
        self.data_received(self._read_view[:n])

    def _lost_to(self, e: OSError) -> None:
        # A game that quits with our last messages unread resets the socket instead of closing it.
        quit_as_told = self._quitting and isinstance(e, (BrokenPipeError, ConnectionResetError))
        self._lost(None if quit_as_told else f"lost the link to the game ({e.strerror})")

    def _try_send(self, data) -> int | None:
        """Bytes the socket took (0 if it is full), or None once the link is lost."""
        try:
            return self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            self._lost_to(e)
            return None

    def _send(self, data: bytes) -> None:
        if self._sock is None or self.state == LinkState.CLOSED:
            return
        if not self._unsent:
            n = self._try_send(data)
            if n is None or n == len(data):
                return
            data = data[n:]
            self._loop.add_writer(self._sock.fileno(), self._writable)
        self._unsent += data

    def _writable(self) -> None:
        n = self._try_send(self._unsent)
        if n is None:
            return
        del self._unsent[:n]
        if not self._unsent:
            self._loop.remove_writer(self._sock.fileno())

    def _lost(self, error: str | None) -> None:
        """The link is gone (the game closed it, or we did)."""
        if self.state == LinkState.CLOSED:
            return
        pending = self._core.pending
        if pending and self.error is None:
            self.error = f"the game closed the link in the middle of a message ({pending} bytes)"
        if error and self.error is None:
            self.error = error
        self.state = LinkState.CLOSED
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            if self._unsent:
                self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data) -> None:
        core = self._core
        frames, broken, waiting = core.FRAMES, core.BROKEN, lp.MsgType.WAITING
        try:
            while True:
                items = core.feed(data)
                data = b""
                kind = None
                for item in items:
                    kind = item[0]
                    if kind == frames:
                        self._on_frames(item)
                    elif kind == waiting and len(item) == 3:
                        if self._on_waiting is not None:
                            self._on_waiting(item[1], item[2])
                    elif kind == broken:
                        raise lp.LinkProtocolError(item[1])
                    else:
                        self._dispatch(kind, item[1])
                if kind is None or kind == frames or kind == waiting:
                    return  # the core stops early only after a message handled here: none was
        except lp.LinkProtocolError as e:
            self._fail(f"link protocol error: {e}")
        except Exception as e:  # a bug here must end this game's link, not the daemon
            log.exception("internal error handling the game's messages")
            self._fail(f"internal error handling the game's messages: {e!r}")

    # ---- messages ----

    def _dispatch(self, raw_type: int, payload: bytes) -> None:
        msg_type = _TYPES[raw_type]  # the core checked that the type is known
        if msg_type not in _ALLOWED.get(self.state, ()):
            raise lp.LinkProtocolError(f"unexpected {msg_type.name} while {self.state.value}")
        fields = lp.decode_msgpack(msg_type, payload)
        if msg_type == lp.MsgType.HELLO:
            self._hello(fields)
        elif msg_type == lp.MsgType.MODULE:
            self._module(fields)
        elif msg_type == lp.MsgType.END:
            self.end = fields
            self.state = LinkState.ENDED
            self._core.accept_frames(False)  # a frame after END breaks the protocol
        elif msg_type == lp.MsgType.ERROR:
            raise lp.LinkProtocolError(f"the game reported: {fields.get('message', '(no message)')}")

    def _hello(self, fields: dict) -> None:
        version = fields.get("protocol")
        if version != lp.PROTOCOL_VERSION:
            message = f"the game's library speaks link protocol {version!r}, the daemon {lp.PROTOCOL_VERSION}"
            self._send(lp.encode_msgpack(lp.MsgType.ERROR, {"message": message}))
            raise lp.LinkProtocolError(message)
        self.hello = fields
        self._send(lp.encode_msgpack(lp.MsgType.WELCOME, self._welcome))
        self.state = LinkState.RUNNING
        self._core.accept_frames()

    def _module(self, fields: dict) -> None:
        self.module = fields
        reason = self._check_module(fields)
        self._send(lp.encode_msgpack(lp.MsgType.MODULE_OK, {"ok": reason is None, "reason": reason or ""}))
        if reason is not None:
            self.error = reason  # the game ends itself with this message

    # ---- to the game ----

    def quit(self) -> None:
        """Tells the game to quit (the link closing after this is no error)."""
        self._quitting = True
        self.send_command("quit")

    def send_command(self, text: str) -> None:
        self._send(lp.encode_message(lp.MsgType.COMMAND, text.encode("utf-8")))

    def send_control(self, run_until: int, records: bytes = b"") -> None:
        """CONTROL: run frames up to run_until, with these action records (lp.ACTION_RECORD each)."""
        self._send(lp.encode_control(run_until, records))

    def _fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
        self.close()

    def close(self) -> None:
        if self._unsent and self._sock is not None:  # a last try for what was said to the game (an ERROR)
            try:
                self._sock.send(self._unsent)
            except OSError:
                pass
        self._lost(None)
