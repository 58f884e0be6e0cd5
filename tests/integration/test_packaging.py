"""What a remote user gets from `pip install`: an sdist and a wheel built from a tree without
generated code carry the protobuf modules generated at build time, `py.typed`, and the client's
dependencies only (the daemon's are the extra `daemon`). Installed in a fresh venv, the client
and the CLI talk to the real daemon."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from gametap.testing import start_daemon

pytestmark = pytest.mark.game
ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("gametap/v1/match_pb2.py", "gametap/v1/match_pb2_grpc.py", "gametap/v1/agent_pb2.py",
             "gametap/v1/archive_pb2_grpc.py", "gametap/q3/v1/world_pb2.py", "gametap/v1/__init__.py",
             "gametap/q3/v1/__init__.py", "gametap/v1/match_pb2.pyi")


def clean_tree(dest: Path) -> Path:
    """The project's sources as a fresh checkout has them: no generated modules, no native build."""
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "proto", dest / "proto")
    shutil.copytree(ROOT / "server", dest / "server", ignore=lambda d, names: [
        n for n in names if n in ("__pycache__", "v1") or n.endswith(".so") or n.endswith(".egg-info")])
    assert not list((dest / "server").rglob("*_pb2.py"))
    return dest


def run(*cmd, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("package")
    tree = clean_tree(d / "tree")
    (d / "dist").mkdir()
    run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(d / 'dist')!r})",
        cwd=tree)
    sdist = next((d / "dist").glob("gametap-*.tar.gz"))
    with tarfile.open(sdist) as t:
        t.extractall(d / "unpacked", filter="data")
    source = next((d / "unpacked").iterdir())
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", d / "dist", source)
    return {"sdist": sdist, "wheel": next((d / "dist").glob("gametap-*.whl")), "dir": d}


def test_the_sdist_carries_the_protos_and_no_generated_code(built):
    with tarfile.open(built["sdist"]) as t:
        names = t.getnames()
    assert any(n.endswith("proto/gametap/v1/match.proto") for n in names)
    assert any(n.endswith("proto/gametap/q3/v1/world.proto") for n in names)
    assert not any(n.endswith("_pb2.py") for n in names)


def test_the_wheel_has_the_generated_modules_py_typed_and_client_dependencies(built):
    with zipfile.ZipFile(built["wheel"]) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert set(GENERATED) <= names and "gametap/py.typed" in names and "gametap/client/sync.py" in names
    assert not any(n.endswith(".so") for n in names)  # the native build stays with the checkout's daemon
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    plain = {re.split(r"[<>=;\s]", r)[0] for r in requires if "extra ==" not in r}
    assert plain == {"grpcio", "protobuf", "numpy", "msgpack"}
    daemon_only = {re.split(r"[<>=;\s]", r)[0] for r in requires if 'extra == "daemon"' in r}
    assert {"aiohttp", "websockets", "uvloop", "prometheus_client"} <= daemon_only


def test_a_fresh_venv_with_the_wheel_talks_to_the_daemon(built, tmp_path):
    venv = built["dir"] / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "-q", "-c", ROOT / "constraints.txt", built["wheel"], timeout=900)
    python = venv / "bin" / "python"
    daemon = start_daemon(tmp_path / "state", "--no-default-match")
    try:
        script = f"""
import importlib.util
from gametap.client import Client
from gametap.v1 import match_pb2 as mpb
assert importlib.util.find_spec("aiohttp") is None  # the daemon's packages are not installed
with Client({daemon.grpc!r}) as c:
    m = c.create_match(mpb.MatchConfig(clock=mpb.LOCKSTEP, bots=[mpb.BotConfig(name="Grism")], max_frames=300))
    assert c.worker_of(m.id)  # followed to its worker
    kinds = []
    for update in c.watch(m.id):
        kinds.append(update.WhichOneof("update"))
        if len(kinds) == 3:
            break
    print("watched", kinds[0], m.id)
"""
        out = run(python, "-c", script, cwd=tmp_path)
        assert "watched keyframe" in out.stdout
        match_id = out.stdout.split()[-1]
        listed = run(venv / "bin" / "gametap", "--server", daemon.grpc, "list", cwd=tmp_path)
        assert match_id in listed.stdout
        serve = subprocess.run([venv / "bin" / "gametap", "serve"], capture_output=True, text=True, timeout=60,
                               cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert serve.returncode == 2 and "pip install 'gametap[daemon]'" in serve.stderr
        assert "Traceback" not in serve.stderr
    finally:
        daemon.stop()
