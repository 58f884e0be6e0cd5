"""deploy/gametap.service under a real systemd: systemd 252 as PID 1 in systemd-nspawn --boot on a
Debian 12 root (tests/integration/nspawn.py), the unit installed by deploy/install-service.sh as
`make install-service` installs it, with this checkout at /opt/gametap. The tests run in order on
one container; the last stops the service and the container and checks that nothing is left."""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from gametap.testing import wait_until

from . import nspawn

pytestmark = [pytest.mark.systemd, pytest.mark.game]

ROOT = Path(__file__).resolve().parents[2]
GAMETAP = f"{nspawn.CHECKOUT}/.venv/bin/gametap"
SETTINGS = "/etc/gametap/gametap.toml"
COPY = "/run/gametap/gametap.toml"  # the service user's copy of SETTINGS (ExecStartPre, ExecReload)
TOKEN = "a-token-of-at-least-16-chars"
WATCHDOG_S = 3  # the test's drop-in (the unit's own 30 s would make the watchdog checks slow)
DROP_IN = f"[Service]\nWatchdogSec={WATCHDOG_S}\n"


@pytest.fixture(scope="module")
def booted(request, tmp_path_factory):
    why = nspawn.missing_tools()
    if why:
        pytest.fail(f"the systemd test cannot run here: {why}")
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def progress(line: str) -> None:  # building the cache takes minutes: say what happens
        with capture.global_and_fixture_disabled():
            print(f"[systemd test] {line}", flush=True)

    root = nspawn.debian_root(progress)
    venv = nspawn.checkout_venv(root, ROOT, progress)
    m = nspawn.Machine(root, venv, ROOT, tmp_path_factory.mktemp("nspawn") / "console.log")
    try:
        m.boot()
        yield m
    finally:
        m.shut_down()


@pytest.fixture(scope="module")
def installed(booted) -> subprocess.CompletedProcess:
    """deploy/install-service.sh's run (as `make install-service` runs it), after the test's drop-in."""
    booted.run("mkdir", "-p", "/etc/systemd/system/gametap.service.d")
    booted.run("tee", "/etc/systemd/system/gametap.service.d/test.conf", stdin=DROP_IN)
    return booted.run(f"{nspawn.CHECKOUT}/deploy/install-service.sh", check=False, timeout=180)


@pytest.fixture
def machine(booted, installed) -> nspawn.Machine:
    return booted


def show(m: nspawn.Machine, *props: str) -> dict[str, str]:
    out = m.run("systemctl", "show", "gametap", "-p", ",".join(props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(m: nspawn.Machine) -> str:
    return m.run("journalctl", "-u", "gametap", "--no-pager", "-o", "cat").stdout


def processes(m: nspawn.Machine, name: str) -> list[str]:
    return m.run("pgrep", "-a", "-x", name, check=False).stdout.splitlines()


def test_install_service_starts_it_and_it_is_active_after_ready(machine, installed):
    assert installed.returncode == 0, installed.stdout + installed.stderr
    state = show(machine, "ActiveState", "SubState", "Type", "StatusText", "WatchdogUSec", "FragmentPath")
    assert (state["ActiveState"], state["SubState"], state["Type"]) == ("active", "running", "notify")
    assert state["FragmentPath"] == "/etc/systemd/system/gametap.service"
    assert state["WatchdogUSec"] == f"{WATCHDOG_S}s"
    # Type=notify: systemd called it started (and `systemctl restart` returned) only on READY, which
    # comes after the banner and the boot match; the banner is in the journal while it runs.
    log = journal(machine)
    assert "serving (state in /var/lib/private/gametap)" in log, log  # StateDirectory= under DynamicUser=
    banner = log.index("serving (state in")
    assert banner < log.index("Ctrl-C (or SIGTERM) stops the daemon") < log.index("Started gametap.service"), log
    boot = re.search(r"^  match (\w+): REALTIME oa_dm1", log, re.MULTILINE).group(1)
    assert boot in state["StatusText"], state["StatusText"]  # at READY: starting or running
    running = wait_until(lambda: (s := show(machine, "StatusText")["StatusText"]).startswith("1 match running")
                         and s, 30, "STATUS to say the boot match runs")
    assert running == f"1 match running ({boot}), 0 agents' players"


def test_it_installs_the_example_settings_root_only(machine, installed):
    mode = machine.run("stat", "-c", "%a %U %G", SETTINGS).stdout.split()
    assert mode == ["600", "root", "root"]
    assert machine.run("cat", SETTINGS).stdout == (ROOT / "deploy" / "gametap.toml.example").read_text()
    assert "gametap.toml.example" in installed.stderr


def test_the_hardening_is_in_force_and_security_rates_it_at_most_1_5(machine):
    # the ones issue 20 turned on; the match test below runs a game under them
    assert show(machine, "MemoryDenyWriteExecute", "PrivateUsers", "ProtectSystem", "DynamicUser") == {
        "MemoryDenyWriteExecute": "yes", "PrivateUsers": "yes", "ProtectSystem": "strict", "DynamicUser": "yes"}
    filtered = show(machine, "SystemCallFilter")["SystemCallFilter"].split()
    assert "sched_setaffinity" in filtered and not {"setpriority", "setrlimit", "sched_setscheduler"} & set(filtered)
    out = machine.run("systemd-analyze", "security", "--no-pager", "gametap.service", check=False).stdout
    exposure = float(re.search(r"Overall exposure level for gametap\.service: ([\d.]+)", out).group(1))
    assert exposure <= 1.5, out[-3000:]


def test_a_lockstep_match_runs_to_its_end_in_the_sandbox(machine):
    created = machine.run(GAMETAP, "create", "--clock", "lockstep", "--bot", "Sarge:3", "--bot", "Grism:3",
                          "--max-frames", "3000", "--seed", "7")
    match_id = json.loads(created.stdout)["id"]

    def ended():
        listed = json.loads(machine.run(GAMETAP, "list", "--json").stdout)
        m = next(m for m in listed if m["id"] == match_id)
        return m["status"] in ("FINISHED", "STOPPED", "FAILED") and m

    m = wait_until(ended, 120, f"match {match_id} to end")
    assert (m["status"], int(m["frame"])) == ("FINISHED", 3000), m
    # the workers pin themselves to their cores (SystemCallFilter keeps sched_setaffinity for it)
    pinned = machine.run("sh", "-c", f"for p in $(pgrep -f '^{nspawn.CHECKOUT}/.venv/bin/python3 -m gametap.worker'); "
                                     "do grep Cpus_allowed_list /proc/$p/status; done").stdout.split()
    assert pinned and all(re.fullmatch(r"\d+", v) for v in pinned[1::2]), pinned


def test_the_watchdog_is_pinged(machine):
    first = int(show(machine, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    wait_until(lambda: int(show(machine, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]) > first,
               10 * WATCHDOG_S, "a watchdog ping")
    time.sleep(2 * WATCHDOG_S)  # past WatchdogSec, and still up
    assert show(machine, "SubState", "NRestarts") == {"SubState": "running", "NRestarts": "0"}


def test_a_stopped_daemon_is_killed_and_restarted_by_the_watchdog(machine):
    before = show(machine, "MainPID", "NRestarts")
    machine.run("kill", "-STOP", before["MainPID"])

    def restarted():
        now = show(machine, "MainPID", "NRestarts", "SubState")
        return now["MainPID"] not in ("0", before["MainPID"]) and now["SubState"] == "running" and now

    now = wait_until(restarted, 60 + 10 * WATCHDOG_S, "systemd to restart the stopped daemon")
    assert int(now["NRestarts"]) == int(before["NRestarts"]) + 1
    assert f"Watchdog timeout (limit {WATCHDOG_S}s)" in journal(machine)
    assert f"Killing process {before['MainPID']} (gametap) with signal SIGABRT" in journal(machine)


def test_reload_keeps_it_running_and_reads_the_settings_file_as_it_is_now(machine):
    pid = show(machine, "MainPID")["MainPID"]
    assert machine.run(GAMETAP, "list").returncode == 0  # no tokens: none asked
    machine.run("tee", SETTINGS, stdin=f'[auth.tokens]\n"{TOKEN}" = "admin"\n')
    machine.run("systemctl", "reload", "gametap")
    wait_until(lambda: f"SIGHUP: reloaded {COPY}: 1 tokens" in journal(machine), 30, "the reload's log line")
    assert show(machine, "MainPID", "SubState") == {"MainPID": pid, "SubState": "running"}
    mode, owner = machine.run("stat", "-c", "%a %u", COPY).stdout.split()
    service_user = machine.run("stat", "-c", "%u", "/run/gametap").stdout.strip()  # the dynamic user's
    assert (mode, owner) == ("400", service_user) and owner != "0"
    refused = machine.run(GAMETAP, "list", check=False)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
    assert machine.run(GAMETAP, "--token", TOKEN, "list").returncode == 0
    machine.run("rm", SETTINGS)  # no file: the defaults again, at the next reload
    machine.run("systemctl", "reload", "gametap")
    wait_until(lambda: journal(machine).count(f"SIGHUP: reloaded {COPY}: 0 tokens") == 1, 30, "the second reload")
    assert machine.run(GAMETAP, "list").returncode == 0


def test_stop_ends_every_game_and_nothing_is_left(machine):
    assert processes(machine, "ioq3ded")  # the boot match's game
    machine.run("systemctl", "stop", "gametap", timeout=60)
    assert show(machine, "ActiveState", "MainPID") == {"ActiveState": "inactive", "MainPID": "0"}
    assert processes(machine, "ioq3ded") == [] and machine.run("pgrep", "-f", "gametap", check=False).stdout == ""
    assert "Deactivated successfully" in journal(machine).rsplit("stopping: ending every game", 1)[1]
    machine.run(f"{nspawn.CHECKOUT}/deploy/install-service.sh", "--uninstall")
    assert show(machine, "LoadState", "UnitFileState") == {"LoadState": "not-found", "UnitFileState": ""}
    assert "gametap.service" not in machine.run("ls", "/etc/systemd/system/multi-user.target.wants").stdout
    assert machine.shut_down() == 0  # systemd-nspawn powered the container off cleanly
    assert machine.processes_in_namespace() == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(machine.root) not in mounts and nspawn.CHECKOUT not in mounts
