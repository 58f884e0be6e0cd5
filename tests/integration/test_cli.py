"""The `gametap` command line against the real daemon."""
import json
import os
import signal
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
                                 "--bot", "Grism", "--frag-limit", "5000").stdout)
    match_id = created["id"]
    assert created["config"]["clock"] == "LOCKSTEP" and created["config"]["bots"][0]["skill"] == 2
    listing = gametap(daemon, "list").stdout
    assert match_id in listing and "LOCKSTEP" in listing
    listed = {m["id"]: m for m in json.loads(gametap(daemon, "list", "--json").stdout)}
    assert listed[match_id]["config"]["maxFrames"] == "0"  # zero-valued fields are kept, as `get` keeps them
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


def test_list_shows_the_live_or_the_ended_matches(daemon):
    live = json.loads(gametap(daemon, "create", "--clock", "lockstep", "--bot", "Sarge").stdout)["id"]
    ended = json.loads(gametap(daemon, "create", "--clock", "lockstep", "--max-frames", "20").stdout)["id"]
    wait_until(lambda: json.loads(gametap(daemon, "get", ended).stdout)["status"] == "FINISHED", 60, "the short match")
    try:
        listed = {flag: {m["id"]: m["status"] for m in json.loads(gametap(daemon, "list", "--json", *flag).stdout)}
                  for flag in ((), ("--live",), ("--ended",))}
        assert {live, ended} <= set(listed[()])
        assert live in listed[("--live",)] and ended not in listed[("--live",)]
        assert ended in listed[("--ended",)] and live not in listed[("--ended",)]
        assert {"FINISHED", "STOPPED", "FAILED"} >= set(listed[("--ended",)].values())
        assert {"STARTING", "RUNNING"} >= set(listed[("--live",)].values())
        table = gametap(daemon, "list", "--live").stdout
        assert live in table and ended not in table
        both = gametap(daemon, "list", "--live", "--ended", check=False)
        assert both.returncode == 2 and "not allowed with" in both.stderr
    finally:
        gametap(daemon, "stop", live)


def test_errors_are_reported_with_their_status(daemon):
    result = gametap(daemon, "create", "--bot", "Sarge:9", check=False)
    assert result.returncode == 1 and "INVALID_ARGUMENT: bots[0].skill" in result.stderr
    result = gametap(daemon, "stop", "nope", check=False)
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr
    result = gametap(daemon, "create", "--clock", "sometimes", check=False)
    assert result.returncode == 2 and "realtime, lockstep" in result.stderr


def test_cli_edges_have_clear_messages_not_tracebacks(daemon):
    assert "Traceback" not in (r := gametap(daemon, "create", "--config-json", "{bad", check=False)).stderr
    assert r.returncode == 2 and "--config-json" in r.stderr
    r = gametap(daemon, "create", "--max-frames", "-5", check=False)
    assert r.returncode == 2 and "--max-frames -5" in r.stderr and "Traceback" not in r.stderr
    nobody = subprocess.run([sys.executable, "-m", "gametap", "list", "--server", "127.0.0.1:1"],
                            capture_output=True, text=True, timeout=60)  # --server after the verb
    assert nobody.returncode == 1 and "no gametap daemon at 127.0.0.1:1 (start one with `gametap serve`)" in nobody.stderr
    via_env = subprocess.run([sys.executable, "-m", "gametap", "list"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "GAMETAP_SERVER": daemon.grpc})
    assert via_env.returncode == 0 and "ID" in via_env.stdout


def test_json_keeps_zero_fields_and_command_output_has_no_colour_codes(daemon):
    held = json.loads(gametap(daemon, "create", "--clock", "lockstep", "--hold-for-agents", "1").stdout)
    assert held["config"]["holdForAgents"] == 1
    gametap(daemon, "stop", held["id"])
    match = json.loads(gametap(daemon, "create", "--clock", "realtime", "--bot", "Sarge").stdout)
    try:
        state = wait_until(lambda: (s := json.loads(gametap(daemon, "state", match["id"]).stdout))["players"] and s,
                           60, "the bot")
        assert state["players"][0]["client"] == 0  # a zero is printed, not left out
        status = gametap(daemon, "command", match["id"], "status").stdout
        assert "Sarge" in status and "^7" not in status
    finally:
        gametap(daemon, "stop", match["id"])


def test_maps_and_bots_from_the_daemon(daemon):
    maps = gametap(daemon, "maps").stdout.splitlines()
    assert "oa_dm1" in maps  # oa_dm1 has bot navigation: no note after its name
    bots = gametap(daemon, "bots")
    assert "Sarge" in bots.stdout.split() and "at most 24 of them bots and agents" in bots.stderr


@pytest.mark.parametrize("verb", [["list"], ["maps"], ["recordings", "list"]])
def test_a_reader_that_goes_away_ends_the_cli_quietly(daemon, verb):
    """`gametap list | head -3` (issue 20, defect 7): the pipe's reader is gone before the CLI
    writes; it stops as a Unix tool does, with no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "gametap", "--server", daemon.grpc, *verb],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the only reader: every write now gets EPIPE
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGPIPE and stderr == "", stderr


def test_command_prints_what_the_game_printed_and_nothing_for_a_cvar_set(daemon):
    """Issue 20, defect 15: a cvar set to the value it has (the game prints nothing) printed a
    blank line. (A change may bring the game's notice, "Server: fraglimit changed to 10", if the
    game's next frame comes before the command's end.)"""
    match = json.loads(gametap(daemon, "create", "--clock", "realtime").stdout)
    try:
        wait_until(lambda: json.loads(gametap(daemon, "get", match["id"]).stdout).get("status") == "RUNNING", 60,
                   "the match to run")
        gametap(daemon, "command", match["id"], "fraglimit", "10")
        assert gametap(daemon, "command", match["id"], "fraglimit", "10").stdout == ""
        shown = gametap(daemon, "command", match["id"], "fraglimit").stdout
        assert shown.startswith('"fraglimit" is:"10"') and shown.endswith("\n") and not shown.endswith("\n\n"), shown
    finally:
        gametap(daemon, "stop", match["id"])
