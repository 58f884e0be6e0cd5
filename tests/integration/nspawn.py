"""A Debian root made by debootstrap from this machine's apt mirror, booted with systemd as PID 1
under systemd-nspawn, with this checkout at /opt/gametap (read-only): the systemd test's machine.

The root (systemd, dbus, the game, Debian's python3) and the checkout's venv for that python3 are
built once into CACHE and reused: each is built in a temporary directory and renamed into place,
so a half-built one is never used. A boot never changes them (--volatile=overlay: the container's
writes go to a tmpfs), and the container has only loopback (--private-network)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gametap.core import parent_death

CACHE = Path(os.environ.get("GAMETAP_TEST_CACHE", "/var/cache/gametap-test"))
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openarena-server", "python3", "python3-venv", "make",
            "ca-certificates", "procps")
CHECKOUT = "/opt/gametap"  # outside /home, /root, /tmp: where the service's user can reach it
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The steps below that shape what is built; a change here makes a new root (and venv).
RECIPE = 2
VENV_INPUTS = ("pyproject.toml", "constraints.txt", "Makefile")  # the checkout's files `make venv` reads

Progress = Callable[[str], None]


class ContainerError(RuntimeError):
    pass


def missing_tools() -> str | None:
    """Why this machine cannot run the test (None: it can)."""
    if os.geteuid() != 0:
        return "the systemd test needs root (debootstrap, systemd-nspawn)"
    for tool in ("debootstrap", "systemd-nspawn", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make setup installs debootstrap and systemd-container)"
    return None


def apt_source(etc: Path = Path("/etc/apt"), os_release: Path = Path("/etc/os-release")) -> tuple[str, str]:
    """(mirror URL, suite) of this machine's Debian archive: the configured source whose suite is
    this release's codename (not -updates or -security, not a third party's repository)."""
    codename = re.search(r"^VERSION_CODENAME=(\S+)", os_release.read_text(), re.MULTILINE).group(1)
    for path in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]:
        text = path.read_text(errors="replace") if path.is_file() else ""
        if path.suffix == ".sources":  # deb822: stanzas of "Key: value"
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if "deb" in fields.get("Types", "").split() and codename in fields.get("Suites", "").split():
                    return fields["URIs"].split()[0], codename
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()  # "deb [signed-by=...] URL SUITE COMPONENTS"
                if len(words) >= 3 and words[0] == "deb" and words[2] == codename:
                    return words[1], codename
    raise ContainerError(f"no apt source for Debian {codename} in {etc}: debootstrap needs its mirror")


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


@contextlib.contextmanager
def _building(name: str, progress: Progress) -> Iterator[tuple[Path, Path] | None]:
    """(a fresh temporary directory, the final path) to build `name` in, under CACHE's lock; None
    if it is already built. The caller builds into the directory's `out`, renamed into place after."""
    CACHE.mkdir(parents=True, exist_ok=True)
    final = CACHE / name
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once: the second waits and takes the first's
        if final.exists():
            yield None
            return
        kind = name.split("-")[0]
        for stale in [*CACHE.glob(f".{name}-*"), *CACHE.glob(f"{kind}-*")]:  # a killed build's, an old recipe's
            progress(f"removing {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
        try:
            yield work, final
            os.rename(work / "out", final)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _run(cmd: list[str], progress: Progress, what: str, timeout: float) -> None:
    """Runs cmd, passing on its output as progress lines; its last lines in the error if it fails."""
    tail: list[str] = []
    start = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, errors="replace", env={"PATH": PATH, "LANG": "C.UTF-8"}) as proc:
        try:
            for line in proc.stdout:
                tail = [*tail[-30:], line.rstrip()]
                progress(f"{what}: {line.rstrip()}")
                if time.monotonic() - start > timeout:
                    raise ContainerError(f"{what} took over {timeout:.0f} s")
            code = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except BaseException:
            proc.kill()
            raise
    if code:
        raise ContainerError(f"{what} failed (exit {code}):\n" + "\n".join(tail))


def _nspawn(*args: str) -> list[str]:
    """systemd-nspawn in a private mount namespace with its own tmpfs /run: nspawn keeps state
    under /run/systemd/nspawn and refuses to clean it on a disk file system (this host's /run), and
    nothing it mounts is then seen by (or left in) the host's mount table."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o mode=0755 gametap-test-run /run && exec "$@"', "nspawn",
            "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--resolv-conf=off", "--timezone=off",
            *args]


def debian_root(progress: Progress) -> Path:
    """The cached root: debootstrap --variant=minbase with PACKAGES (about 1.5 minutes, 1.1 GB)."""
    mirror, suite = apt_source()
    name = f"root-{_digest(mirror, suite, *PACKAGES, str(RECIPE))}"
    with _building(name, progress) as build:
        if build is not None:
            work, final = build
            progress(f"building {final} with debootstrap from {mirror} {suite} (about 2 minutes, once)")
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(work / "out"),
                  mirror], progress, "debootstrap", timeout=360)
            (work / "out" / "etc" / "hostname").write_text("gametap-test\n")
            # openarena-server's own unit would start a game at boot: the test's games are the daemon's
            (work / "out" / "etc" / "systemd" / "system" / "openarena-server.service").symlink_to("/dev/null")
    return CACHE / name


def checkout_venv(root: Path, checkout: Path, progress: Progress) -> Path:
    """The checkout's venv for the root's own python3, made by the checkout's `make venv` (EXTRAS=daemon)
    inside the root, at the path it is used at (CHECKOUT/.venv); pip reaches PyPI through the host's
    network. The checkout is an overlay there, so the build writes nothing into it."""
    name = f"venv-{_digest(root.name, *((checkout / f).read_bytes() for f in VENV_INPUTS))}"
    with _building(name, progress) as build:
        if build is not None:
            work, final = build
            (work / "out").mkdir()
            (work / "upper").mkdir()
            progress(f"building {final}: the daemon's packages for {root.name}'s python3 (about 15 s, once)")
            _run(_nspawn("-D", str(root), "--volatile=overlay", "--pipe",
                         f"--overlay={checkout}:{work / 'upper'}:{CHECKOUT}",
                         f"--bind={work / 'out'}:{CHECKOUT}/.venv",
                         "--bind-ro=/etc/ssl/certs/ca-certificates.crt",  # the host's trust, for pip
                         f"--chdir={CHECKOUT}", "--setenv=PIP_DISABLE_PIP_VERSION_CHECK=1", "--",
                         "make", "venv", "PYTHON=/usr/bin/python3", "EXTRAS=daemon"),
                 progress, "make venv", timeout=120)  # with debootstrap: under 8 minutes
    return CACHE / name


def _leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 as this host numbers it: a descendant of nspawn that is 1 in its namespace
    and already systemd (before its exec it is nspawn's child, still in the host's mounts)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        nspid = re.search(r"^NSpid:\s+(.*)$", text, re.MULTILINE)
        if nspid and nspid.group(1).split()[-1] == "1" and len(nspid.group(1).split()) > 1 \
                and re.search(r"^Name:\s+systemd$", text, re.MULTILINE):
            pid = int(nspid.group(1).split()[0])
            if _descends_from(pid, nspawn_pid):
                return pid
    return None


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE).group(1))
        except (OSError, AttributeError):
            return False
    return False


class Machine:
    """A booted container: run() runs a command in it (as root, in all its namespaces)."""

    def __init__(self, root: Path, venv: Path, checkout: Path, console: Path):
        self.root, self.venv, self.checkout, self.console = root, venv, checkout, console
        self.proc: subprocess.Popen | None = None
        self.leader: int | None = None
        self.pid_namespace: str | None = None

    def boot(self, timeout: float = 120) -> None:
        log = open(self.console, "w")
        self.proc = subprocess.Popen(
            _nspawn("--boot", "-D", str(self.root), "--volatile=overlay", "--private-network",
                    "--machine=gametap-test", "--console=passive",
                    f"--bind-ro={self.checkout}:{CHECKOUT}", f"--bind-ro={self.venv}:{CHECKOUT}/.venv"),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={"PATH": PATH, "LANG": "C.UTF-8"},
            start_new_session=True, preexec_fn=parent_death.die_with_parent)  # a killed test powers it off too
        log.close()
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ContainerError(f"systemd-nspawn did not boot the container (exit {self.proc.returncode}); "
                                     f"its console:\n{self.console_tail()}")
            self.leader = _leader(self.proc.pid)
            time.sleep(0.1)
        self.pid_namespace = os.readlink(f"/proc/{self.leader}/ns/pid")
        state = ""  # "" until its bus is up; "offline" until systemd has marked /run/systemd/system
        while state in ("", "offline") and time.monotonic() < deadline and self.proc.poll() is None:
            state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=timeout).stdout.strip()
            time.sleep(0.2 if state in ("", "offline") else 0)
        if state not in ("running", "degraded"):
            raise ContainerError(f"the container's systemd is {state!r}; its console:\n{self.console_tail()}")

    def console_tail(self, lines: int = 60) -> str:
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])

    def run(self, *cmd: str, check: bool = True, timeout: float = 120, stdin: str | None = None) \
            -> subprocess.CompletedProcess:
        assert self.leader is not None, "boot() first"
        result = subprocess.run(["nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net", "--pid",
                                 "--cgroup", "--root", "--wd", "--", "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
                                 *cmd],
                                capture_output=True, text=True, errors="replace", timeout=timeout, input=stdin)
        if check and result.returncode:
            raise ContainerError(f"{' '.join(cmd)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def processes_in_namespace(self) -> list[str]:
        """Every host process still in the container's pid namespace ("pid comm")."""
        found = []
        for ns in Path("/proc").glob("[0-9]*/ns/pid"):
            try:
                if os.readlink(ns) == self.pid_namespace:
                    found.append(f"{ns.parts[2]} {Path('/proc', ns.parts[2], 'comm').read_text().strip()}")
            except OSError:
                continue
        return found

    def shut_down(self, timeout: float = 60) -> int | None:
        """Powers the container off (nspawn's SIGTERM); kills it if that takes too long. nspawn's exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                if self.leader is not None:  # PID 1 killed: the kernel kills its whole namespace
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.leader, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
                print(f"the container did not power off within {timeout:.0f} s: killed", file=sys.stderr)
        return self.proc.returncode
