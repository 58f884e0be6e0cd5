"""SIGHUP: the daemon reads its settings file again; new tokens and limits take effect at the
daemon and at its workers, and running matches go on."""
from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading

import grpc
import pytest
import websockets

from gametap.client import Client
from gametap.testing import start_daemon, wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep

pytestmark = pytest.mark.game

OLD, NEW = "old-admin-token-0123456789", "new-admin-token-9876543210"


def answers(address: str, token: str, call) -> grpc.StatusCode:
    with Client(address, token=token) as c:
        try:
            call(c)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()


def test_sighup_swaps_tokens_and_limits_and_the_match_goes_on(tmp_path):
    config = tmp_path / "gametap.toml"
    config.write_text(f'[auth.tokens]\n"{OLD}" = "admin"\n')
    daemon = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        with Client(daemon.grpc, token=OLD) as c:
            match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)]))
            worker = f"127.0.0.1:{c.get_match(match.id).placement.grpc_port}"
            frame = wait_until(lambda: c.get_match(match.id).frame, 30, "frames")
        config.write_text(f'[auth.tokens]\n"{NEW}" = "admin"\n[limits]\nmatches = 1\n')
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: answers(daemon.grpc, OLD, lambda c: c.list_matches()) == grpc.StatusCode.UNAUTHENTICATED,
                   20, "the old token to be refused")
        assert answers(daemon.grpc, NEW, lambda c: c.list_matches()) == grpc.StatusCode.OK
        def state(c):
            return c.get_state(match.id)
        assert answers(worker, OLD, state) == grpc.StatusCode.UNAUTHENTICATED  # the worker took them too
        assert answers(worker, NEW, state) == grpc.StatusCode.OK
        with Client(daemon.grpc, token=NEW) as c:
            with pytest.raises(grpc.RpcError) as e:  # [limits] matches = 1, and one runs
                c.create_match(lockstep(bots=("Grism",)))
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert c.get_match(match.id).status == mpb.RUNNING
            wait_until(lambda: c.get_match(match.id).frame > frame + 20, 30, "the match to go on")
        assert any("SIGHUP: reloaded" in line for line in daemon.output)
        config.write_text("[surprise]\n")  # a broken file: the tokens in force stay
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("SIGHUP: " in line and "unknown sections" in line for line in daemon.output), 20,
                   "the broken file to be reported")
        assert answers(daemon.grpc, NEW, lambda c: c.list_matches()) == grpc.StatusCode.OK
    finally:
        daemon.stop()


def test_bad_settings_never_show_tokens_and_are_one_line_at_start_and_at_sighup(tmp_path):
    """Tokens under [auth] instead of [auth.tokens] (issue 20, defect 3), and a file that is not
    UTF-8 (defect 7): start-up and SIGHUP say what is wrong in one line, without the tokens."""
    config = tmp_path / "gametap.toml"
    misplaced = f'[auth]\n"{OLD}" = "admin"\n"{NEW}" = "observe"\n'
    config.write_text(misplaced)
    start = subprocess.run([sys.executable, "-m", "gametap", "serve", "--config", str(config), "--state-dir",
                            str(tmp_path / "state"), "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert start.returncode == 2 and "[auth.tokens]" in start.stderr, start.stderr
    assert OLD not in start.stdout + start.stderr and NEW not in start.stdout + start.stderr
    config.write_text(f'[auth.tokens]\n"{OLD}" = "admin"\n')
    daemon = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        config.write_text(misplaced)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("SIGHUP: " in line and "[auth.tokens]" in line for line in daemon.output), 20,
                   "the misplaced tokens to be reported")
        config.write_bytes(b'[auth.tokens]\n"' + NEW.encode() + b'" = "admin"\n# caf\xe9\n')
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("SIGHUP: " in line and "not UTF-8" in line for line in daemon.output), 20,
                   "the file that is not UTF-8 to be reported")
        assert str(config) in next(line for line in daemon.output if "not UTF-8" in line)
        assert answers(daemon.grpc, OLD, lambda c: c.list_matches()) == grpc.StatusCode.OK  # nothing changed
        text = "\n".join(daemon.output)
        assert OLD not in text and NEW not in text and "Traceback" not in text, text
    finally:
        daemon.stop()


class Stream:
    """A server stream read in a thread until it ends: how many messages came, and its status."""

    def __init__(self, responses):
        self.count, self.code, self.details = 0, None, ""
        self._responses = responses
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for _ in self._responses:
                self.count += 1
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()


def watch(address: str, token: str, match_id: str) -> Stream:
    channel = grpc.insecure_channel(address)
    call = channel.unary_stream("/gametap.v1.ObserveService/Watch", request_serializer=opb.WatchRequest.SerializeToString,
                                response_deserializer=opb.WatchResponse.FromString)
    return Stream(call(opb.WatchRequest(match_id=match_id), metadata=[("authorization", f"Bearer {token}")]))


def play(address: str, token: str, match_id: str) -> Stream:
    channel = grpc.insecure_channel(address)
    call = channel.stream_stream("/gametap.v1.AgentService/Play", request_serializer=apb.PlayRequest.SerializeToString,
                                 response_deserializer=apb.PlayResponse.FromString)
    requests = queue.SimpleQueue()
    requests.put(apb.PlayRequest(join=apb.JoinRequest(match_id=match_id, slots=[apb.SlotSpec(name="revoked")])))
    return Stream(call(iter(requests.get, None), metadata=[("authorization", f"Bearer {token}")]))


def viewer(address: str, token: str) -> dict:
    """A websocket viewer in a thread: its close code and last status message once it is closed."""
    seen = {"opened": threading.Event()}

    async def run():
        async with websockets.connect(f"ws://{address}/ws?token={token}", subprotocols=["foxglove.websocket.v1"]) as ws:
            seen["opened"].set()
            with contextlib.suppress(websockets.ConnectionClosed):  # 1008 is not a normal close
                async for message in ws:
                    if isinstance(message, str) and json.loads(message)["op"] == "status":
                        seen["status"] = json.loads(message)
        seen["close_code"] = ws.close_code

    threading.Thread(target=lambda: asyncio.run(run()), daemon=True).start()
    assert seen["opened"].wait(20)
    return seen


def test_sighup_closes_the_streams_of_revoked_tokens_and_only_those(tmp_path):
    """Issue 20, defect 11: a token removed (or its role lowered) at SIGHUP stops working for the
    streams it opened as well, at the daemon and at the workers; streams of kept tokens go on."""
    keep, gone, lowered = "kept-viewer-token-0123456789", "gone-viewer-token-0123456789", "lowered-player-token-012345"
    config = tmp_path / "gametap.toml"
    config.write_text(f'[auth.tokens]\n"{OLD}" = "admin"\n"{keep}" = "observe"\n"{gone}" = "observe"\n'
                      f'"{lowered}" = "play"\n')
    daemon = start_daemon(tmp_path / "state", "--no-default-match", "--config", str(config))
    try:
        with Client(daemon.grpc, token=OLD) as c:
            match = c.create_match(mpb.MatchConfig(clock=mpb.REALTIME, bots=[mpb.BotConfig(name="Grism", skill=1)]))
            placement = c.get_match(match.id).placement
        worker, worker_http = f"127.0.0.1:{placement.grpc_port}", f"127.0.0.1:{placement.http_port}"
        revoked = {"daemon Watch": watch(daemon.grpc, gone, match.id), "worker Watch": watch(worker, gone, match.id),
                   "worker Play": play(worker, lowered, match.id), "daemon Play": play(daemon.grpc, lowered, match.id)}
        kept = [watch(daemon.grpc, keep, match.id), watch(worker, keep, match.id)]
        viewers = {"daemon": viewer(daemon.http, gone), "worker": viewer(worker_http, gone)}
        kept_viewer = viewer(daemon.http, keep)
        wait_until(lambda: all(s.count >= 2 for s in [*revoked.values(), *kept]), 30, "every stream to flow")
        config.write_text(f'[auth.tokens]\n"{OLD}" = "admin"\n"{keep}" = "observe"\n"{lowered}" = "observe"\n')
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: all(s.code is not None for s in revoked.values()), 20, "the revoked streams to end")
        for what, s in revoked.items():
            expected = grpc.StatusCode.PERMISSION_DENIED if "Play" in what else grpc.StatusCode.UNAUTHENTICATED
            assert s.code == expected and "reloaded" in s.details, (what, s.code, s.details)
        wait_until(lambda: all("close_code" in v for v in viewers.values()), 20, "the revoked viewers to be closed")
        for where, v in viewers.items():
            assert v["close_code"] == 1008 and "reloaded" in v["status"]["message"], (where, v)
        counts = [s.count for s in kept]
        wait_until(lambda: all(s.count > n + 5 for s, n in zip(kept, counts)), 30, "the kept streams to go on")
        assert all(s.code is None for s in kept) and "close_code" not in kept_viewer
        reloaded = next(line for line in daemon.output if "SIGHUP: reloaded" in line)
        assert "closed 3 streams and viewers here" in reloaded, reloaded  # the daemon's Watch, Play and viewer
        assert any(f"worker {placement.worker}: closed" in line for line in daemon.output)  # its own, and the proxied
        assert not any("Traceback" in line for line in daemon.output), daemon.output
    finally:
        daemon.stop()
