"""SIGHUP: the daemon reads its settings file again; new tokens and limits take effect at the
daemon and at its workers, and running matches go on."""
from __future__ import annotations

import signal
import subprocess
import sys

import grpc
import pytest

from gametap.client import Client
from gametap.testing import start_daemon, wait_until
from gametap.v1 import match_pb2 as mpb

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
