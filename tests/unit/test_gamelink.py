"""GameLink's handshake and state machine (with the real hot path as its WorldCore),
driven over a real socketpair by a scripted game."""
import asyncio
import socket

import msgpack
import pytest

from gametap.q3 import _hotpath
from gametap.v1 import observe_pb2 as opb
from gametap.worker.link import protocol as lp
from gametap.worker.link.gamelink import GameLink, LinkState


async def start_link(check_module=lambda fields: None, waits=None):
    ours, theirs = socket.socketpair()
    frames = []  # the frame numbers of every batch's deltas
    on_waiting = (lambda frame, busy: waits.append((frame, busy, len(frames)))) if waits is not None else None

    def on_frames(item):
        frames.extend(opb.WorldUpdate.FromString(d).delta.frame for d in item[1])

    core = _hotpath.World(100, False)
    link = GameLink({"clock": "lockstep", "seed": 5}, check_module, core, on_frames, on_waiting).attach(ours)
    theirs.setblocking(False)
    return link, theirs, frames


async def read_message(sock):
    """The first message the daemon sent (the tests read one at a time)."""
    loop = asyncio.get_running_loop()
    data = b""
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
        assert chunk, "link closed"
        data += chunk
        if len(data) >= lp.HEADER.size:
            size, msg_type, _ = lp.HEADER.unpack_from(data)
            if len(data) >= lp.HEADER.size + size:
                return lp.MsgType(msg_type), data[lp.HEADER.size:lp.HEADER.size + size]


def hello(version=lp.PROTOCOL_VERSION):
    return lp.encode_msgpack(lp.MsgType.HELLO, {"protocol": version, "pid": 1})


def frame(n):
    return lp.encode_message(lp.MsgType.FRAME, lp.FRAME_HEADER.pack(n, n * 50, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0))


def test_handshake_then_frames_then_end():
    async def main():
        link, game, frames = await start_link()
        game.sendall(hello())
        msg_type, payload = await read_message(game)
        welcome = msgpack.unpackb(payload)
        game.sendall(frame(1) + frame(2) + lp.encode_msgpack(lp.MsgType.END, {"reason": "max_frames", "frame": 2}))
        await asyncio.sleep(0.05)
        game.close()
        await asyncio.wait_for(link.closed, 2)
        return msg_type, welcome, frames, link
    msg_type, welcome, frames, link = asyncio.run(main())
    assert msg_type == lp.MsgType.WELCOME
    assert welcome == {"clock": "lockstep", "seed": 5, "protocol": lp.PROTOCOL_VERSION}
    assert frames == [1, 2]
    assert link.end == {"reason": "max_frames", "frame": 2} and link.error is None


def test_wrong_protocol_version_is_refused_with_an_error_message():
    async def main():
        link, game, _ = await start_link()
        game.sendall(hello(version=99))
        msg_type, payload = await read_message(game)
        await asyncio.wait_for(link.closed, 2)
        return msg_type, msgpack.unpackb(payload), link.error
    msg_type, body, error = asyncio.run(main())
    assert msg_type == lp.MsgType.ERROR
    assert "protocol 99" in body["message"] and "protocol 99" in error


def test_unknown_module_is_refused():
    async def main():
        link, game, _ = await start_link(check_module=lambda f: f"unknown module {f['build_id']}")
        game.sendall(hello())
        await read_message(game)
        game.sendall(lp.encode_msgpack(lp.MsgType.MODULE, {"build_id": "abcd", "gentity_size": 1}))
        msg_type, payload = await read_message(game)
        return msg_type, msgpack.unpackb(payload), link.error
    msg_type, body, error = asyncio.run(main())
    assert msg_type == lp.MsgType.MODULE_OK and body == {"ok": False, "reason": "unknown module abcd"}
    assert error == "unknown module abcd"


@pytest.mark.parametrize("data, expected", [
    (frame(1), "unexpected FRAME while awaiting HELLO"),
    (lp.HEADER.pack(10, 77, 0) + bytes(10), "unknown message type 77"),
    (lp.HEADER.pack(lp.MAX_PAYLOAD + 5, lp.MsgType.HELLO, 0), "exceeds"),
    (lp.encode_message(lp.MsgType.HELLO, b"\xc1garbage"), "not valid msgpack"),
])
def test_protocol_errors_close_the_link_with_a_reason(data, expected):
    async def main():
        link, game, _ = await start_link()
        game.sendall(data)
        await asyncio.wait_for(link.closed, 2)
        return link.error, link.state
    error, state = asyncio.run(main())
    assert expected in error and state == LinkState.CLOSED


def test_good_frames_before_a_bad_message_are_kept():
    async def main():
        link, game, frames = await start_link()
        game.sendall(hello())
        await read_message(game)
        game.sendall(frame(1) + frame(2) + lp.encode_message(lp.MsgType.FRAME, b"short"))
        await asyncio.wait_for(link.closed, 2)
        return list(frames), link.error
    frames, error = asyncio.run(main())
    assert frames == [1, 2] and "shorter than" in error


def test_link_closed_mid_message_is_reported():
    async def main():
        link, game, _ = await start_link()
        game.sendall(hello())
        await read_message(game)
        game.sendall(frame(1)[:10])
        game.close()
        await asyncio.wait_for(link.closed, 2)
        return link.error
    assert "in the middle of a message" in asyncio.run(main())


@pytest.mark.parametrize("told_to_quit", [True, False])
def test_a_game_that_quits_with_messages_unread_is_no_error_if_it_was_told_to(told_to_quit):
    async def main():
        link, game, _ = await start_link()
        game.sendall(hello())
        await read_message(game)
        if told_to_quit:
            link.quit()
        else:
            link.send_command("status")
        await asyncio.sleep(0.05)
        game.close()  # with the command unread: the link sees a reset, not an end of file
        await asyncio.wait_for(link.closed, 2)
        return link.error
    error = asyncio.run(main())
    assert error is None if told_to_quit else "Connection reset" in error


def test_commands_reach_the_game():
    async def main():
        link, game, _ = await start_link()
        game.sendall(hello())
        await read_message(game)
        link.send_command("addbot Sarge 3")
        return await read_message(game)
    assert asyncio.run(main()) == (lp.MsgType.COMMAND, b"addbot Sarge 3")


def test_waiting_comes_after_the_frames_sent_with_it():
    async def main():
        waits = []
        link, game, frames = await start_link(waits=waits)
        game.sendall(hello())
        await read_message(game)
        game.sendall(frame(1) + frame(2) + lp.encode_message(lp.MsgType.WAITING, lp.WAITING.pack(2, 345)))
        await asyncio.sleep(0.05)
        game.sendall(lp.encode_message(lp.MsgType.WAITING, b"\x01"))  # wrong size
        await asyncio.wait_for(link.closed, 2)
        return waits, link.error
    waits, error = asyncio.run(main())
    assert waits == [(2, 345, 2)]  # both frames were applied before the game was said to wait
    assert "WAITING" in error


def test_a_frame_after_end_breaks_the_protocol():
    async def main():
        link, game, frames = await start_link()
        game.sendall(hello())
        await read_message(game)
        game.sendall(frame(1) + lp.encode_msgpack(lp.MsgType.END, {"reason": "quit", "frame": 1}) + frame(2))
        await asyncio.wait_for(link.closed, 2)
        return list(frames), link.error
    frames, error = asyncio.run(main())
    assert frames == [1] and "unexpected FRAME while ended" in error
