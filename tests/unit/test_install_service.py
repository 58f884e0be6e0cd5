"""deploy/install-service.sh --check: a checkout or venv interpreter the service's user cannot reach
(hidden by the unit's sandbox, or not readable by others) is refused with the reason, on real
directories. The install itself runs under a real systemd in tests/integration/test_systemd_unit.py."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gametap.core import settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "install-service.sh"
REACHABLE = Path("/var/cache/gametap-test")  # where the systemd test keeps its cache, too


def check(checkout: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "--check", str(checkout)], capture_output=True, text=True, timeout=30)


@pytest.fixture
def make_dir():
    """make_dir(parent): a new directory (mode 0755) there, removed after the test."""
    made = []

    def make(parent: Path) -> Path:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            path = Path(tempfile.mkdtemp(prefix="install-check-", dir=parent))
        except PermissionError:
            pytest.skip(f"needs a directory in {parent}: run as root")
        made.append(path)
        path.chmod(0o755)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def checkout(at: Path, interpreter: Path) -> Path:
    """A checkout's shape as the check sees it: .venv/bin/python -> python3 -> the interpreter."""
    (at / ".venv" / "bin").mkdir(parents=True)
    (at / ".venv" / "bin" / "python3").symlink_to(interpreter)
    (at / ".venv" / "bin" / "python").symlink_to("python3")
    return at


def interpreter(at: Path, mode: int = 0o755) -> Path:
    path = at / "python3.11"
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_a_checkout_and_interpreter_others_can_reach_pass(make_dir):
    place = make_dir(REACHABLE)
    result = check(checkout(place / "gametap", interpreter(make_dir(REACHABLE))))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("parent, reason", [
    ("/tmp", "PrivateTmp=yes"), ("/var/tmp", "PrivateTmp=yes"), ("/home", "ProtectHome=yes")])
def test_a_checkout_the_sandbox_hides_is_refused(make_dir, parent, reason):
    place = make_dir(Path(parent))
    result = check(checkout(place, interpreter(make_dir(REACHABLE))))
    assert result.returncode == 1
    assert f"cannot run as a service: the checkout {place}:" in result.stderr and reason in result.stderr


def test_a_checkout_others_cannot_read_is_refused(make_dir):
    place = checkout(make_dir(REACHABLE), interpreter(make_dir(REACHABLE)))
    place.chmod(0o750)
    result = check(place)
    assert result.returncode == 1
    assert f"the service's own user cannot read it: {place} is not readable by others (chmod o+rx)" in result.stderr


def test_a_checkout_below_a_directory_others_cannot_search_is_refused(make_dir):
    outer = make_dir(REACHABLE)
    place = checkout(outer / "gametap", interpreter(make_dir(REACHABLE)))
    outer.chmod(0o754)
    result = check(place)
    assert result.returncode == 1 and f"{outer} is not searchable by others (chmod o+x)" in result.stderr


def test_a_venv_made_from_a_python_under_home_is_refused(make_dir):
    hidden = interpreter(make_dir(Path.home()))  # /root for root, as pyenv's Python on these machines
    place = checkout(make_dir(REACHABLE), hidden)
    result = check(place)
    assert result.returncode == 1
    assert f"the venv's interpreter {place}/.venv/bin/python is {hidden}: ProtectHome=yes" in result.stderr


def test_an_interpreter_others_cannot_run_is_refused(make_dir):
    private = interpreter(make_dir(REACHABLE), mode=0o750)
    result = check(checkout(make_dir(REACHABLE), private))
    assert result.returncode == 1 and f"{private} is not readable by others (chmod o+rx)" in result.stderr


def test_a_checkout_without_a_venv_is_refused(make_dir):
    place = make_dir(REACHABLE)
    result = check(place)
    assert result.returncode == 1 and f"no interpreter at {place}/.venv/bin/python: run make setup" in result.stderr


def test_the_example_settings_it_installs_are_the_defaults():
    """/etc/gametap/gametap.toml as installed changes nothing until edited."""
    assert settings.load(ROOT / "deploy" / "gametap.toml.example") == settings.Settings()
