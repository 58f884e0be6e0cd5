"""The systemd test's machinery (tests/integration/nspawn.py) without booting anything: which apt
mirror debootstrap takes, and a cache entry that is only ever used whole."""
from __future__ import annotations

import pytest

from tests.integration import nspawn

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "os-release").write_text(OS_RELEASE)
    return tmp_path


def test_the_mirror_is_the_source_of_this_release_not_a_third_partys(etc):
    (etc / "apt" / "sources.list").write_text("deb https://packages.example.org/apt cloud-sdk-bookworm main\n")
    (etc / "apt" / "sources.list.d" / "a-nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.example.com/node_20.x\nSuites: nodistro\nComponents: main\n")
    (etc / "apt" / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    assert nspawn.apt_source(etc / "apt", etc / "os-release") == ("http://mirror.example/debian", "bookworm")


def test_a_one_line_source_with_options(etc):
    (etc / "apt" / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n")
    assert nspawn.apt_source(etc / "apt", etc / "os-release") == ("http://mirror.example/debian", "bookworm")


def test_no_source_for_this_release_is_an_error(etc):
    (etc / "apt" / "sources.list").write_text("deb http://mirror.example/debian trixie main\n")
    with pytest.raises(nspawn.ContainerError, match="no apt source for Debian bookworm"):
        nspawn.apt_source(etc / "apt", etc / "os-release")


def test_a_failed_build_leaves_nothing_and_a_killed_ones_leftovers_go(tmp_path, monkeypatch):
    monkeypatch.setattr(nspawn, "CACHE", tmp_path)
    heard = []
    with pytest.raises(RuntimeError), nspawn._building("root-abc", heard.append) as (work, final):
        (work / "out").mkdir()
        (work / "out" / "half").write_text("")
        raise RuntimeError("debootstrap failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
    (tmp_path / ".root-abc-killed").mkdir()  # what a killed run left
    (tmp_path / "root-old").mkdir()          # an older recipe's root
    with nspawn._building("root-abc", heard.append) as (work, final):
        (work / "out").mkdir()
        (work / "out" / "whole").write_text("")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "root-abc"]
    assert (final / "whole").exists() and len(heard) == 2
    with nspawn._building("root-abc", heard.append) as build:
        assert build is None  # built: used as it is
