"""The `gametap` command line against the real daemon."""
import json
import subprocess
import sys

import pytest

from gametap.testing import wait_until

pytestmark = pytest.mark.game


def gametap(daemon, *args, check=True):
    result = subprocess.run([sys.executable, "-m", "gametap", "--server", daemon.grpc, *args],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_create_list_state_command_stop(daemon):
    created = json.loads(gametap(daemon, "create", "--clock", "lockstep", "--bot", "Sarge:2",
                                 "--bot", "Grism", "--frag-limit", "50").stdout)
    match_id = created["id"]
    assert created["config"]["clock"] == "LOCKSTEP" and created["config"]["bots"][0]["skill"] == 2
    listing = gametap(daemon, "list").stdout
    assert match_id in listing and "LOCKSTEP" in listing
    wait_until(lambda: json.loads(gametap(daemon, "get", match_id).stdout).get("frame", "0") != "0", 60, "frames")
    state = wait_until(lambda: len((s := json.loads(gametap(daemon, "state", match_id).stdout))["players"]) == 2 and s,
                       60, "both bots (they join two frames apart)")
    assert sorted(p["name"] for p in state["players"]) == ["Grism", "Sarge"]
    assert "hello-cli" in gametap(daemon, "command", match_id, "echo", "hello-cli").stdout
    watched = gametap(daemon, "watch", match_id, "--count", "5").stdout.splitlines()
    assert len(watched) == 5 and "keyframe" in watched[0]
    replayed = gametap(daemon, "watch", match_id, "--from-frame", "3", "--count", "3").stdout.splitlines()
    assert [line.split()[:2] for line in replayed] == [["3", "keyframe"], ["4", "delta"], ["5", "delta"]]
    assert "not a frame number" in gametap(daemon, "watch", match_id, "--from-frame", "-1", check=False).stderr
    stopped = json.loads(gametap(daemon, "stop", match_id).stdout)
    assert stopped["status"] == "STOPPED"


def test_errors_are_reported_with_their_status(daemon):
    result = gametap(daemon, "create", "--bot", "Sarge:9", check=False)
    assert result.returncode == 1 and "INVALID_ARGUMENT: bots[0].skill" in result.stderr
    result = gametap(daemon, "stop", "nope", check=False)
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr
    result = gametap(daemon, "create", "--clock", "sometimes", check=False)
    assert result.returncode == 2 and "realtime, lockstep" in result.stderr
