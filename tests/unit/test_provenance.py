"""What a recording's provenance says of the machine and software under the game, and what diff
and reproduce say of it when two games differ: which facts differ, never a cause."""
from __future__ import annotations

import platform
import re
import subprocess

from gametap.core import elf
from gametap.core.settings import Settings
from gametap.recordings import provenance
from gametap.recordings.archive import Archive
from gametap.recordings.diff import Diff, diff_recordings
from gametap.recordings.reproduce import Reproduction
from gametap.v1 import archive_pb2 as arpb
from gametap.v1 import match_pb2 as mpb

from .test_archive import record

XEON = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx512f avx2 fma ssse3\n\n"
ENGINE = "/usr/lib/ioquake3/ioq3ded"


def test_the_cpu_is_its_model_and_the_features_libm_follows(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(XEON)
    assert provenance.cpu.__wrapped__(info) == "Intel(R) Xeon(R) Processor; fma avx2 avx512f"
    info.write_text("model name\t: Old CPU\nflags\t\t: fpu sse2\n")
    assert provenance.cpu.__wrapped__(info) == "Old CPU"
    assert provenance.cpu.__wrapped__(tmp_path / "missing")  # no /proc: platform's name for it


def test_the_header_names_this_host_s_cpu_c_library_and_kernel():
    header = provenance.header("m", mpb.MatchConfig(), {})
    assert header["cpu"] == provenance.cpu()
    assert header["glibc"] == platform.libc_ver()[1] != ""
    assert header["kernel"] == platform.release()


def test_the_game_s_facts_name_its_binaries_build_ids_and_its_packages_versions():
    facts = Settings().make_game().provenance(mpb.MatchConfig(map="oa_dm1"))
    readelf = subprocess.run(["readelf", "-n", ENGINE], capture_output=True, text=True, check=True).stdout
    assert facts["engine"] == {"path": ENGINE, "build_id": elf.build_id(ENGINE)}
    assert f"Build ID: {facts['engine']['build_id']}" in readelf
    assert len(facts["library"]["build_id"]) == 40
    dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "openarena-server"], capture_output=True,
                          text=True, check=True).stdout
    assert facts["packages"]["openarena-server"] == dpkg
    assert {"ioquake3-server", "libc6"} <= facts["packages"].keys()
    assert re.fullmatch(r"[0-9a-f]{16}", facts["cpu_estimates"])



def test_the_archive_shows_them(tmp_path):
    record(tmp_path, "cccccccccccc", header={
        "cpu": "Some CPU; fma", "cpu_estimates": "0123456789abcdef", "glibc": "2.36", "kernel": "6.1.0", "packages": {"libc6": "2.36-9"},
        "engine": {"path": "/e", "build_id": "ab"}, "library": {"path": "/l.so", "build_id": "cd"}})
    p = Archive(tmp_path).describe("cccccccccccc", verify=False).provenance
    assert (p.cpu, p.glibc, p.kernel, dict(p.packages)) == ("Some CPU; fma", "2.36", "6.1.0", {"libc6": "2.36-9"})
    assert (p.engine.build_id, p.library.path, p.cpu_estimates) == ("ab", "/l.so", "0123456789abcdef")


def test_the_facts_of_a_header_of_the_wrong_shape_are_left_empty(tmp_path):
    record(tmp_path, "cccccccccccc", header={"engine": "x", "packages": [1, 2]})
    p = Archive(tmp_path).describe("cccccccccccc", verify=False).provenance
    assert not p.engine.build_id and not p.packages


def test_differences_lists_what_differs_and_skips_what_one_does_not_record():
    a = arpb.Provenance(cpu="Xeon; fma avx2", glibc="2.36", kernel="6.1", packages={"libc6": "2.36-9", "x": "1"},
                        engine=arpb.BinaryFile(build_id="aa"), cpu_estimates="aaaa")
    b = arpb.Provenance(cpu="EPYC; avx2", glibc="2.36", kernel="", packages={"libc6": "2.36-10"},
                        engine=arpb.BinaryFile(build_id="aa"), cpu_estimates="bbbb")
    assert provenance.differences(a, b) == ["cpu: Xeon; fma avx2 | EPYC; avx2", "cpu estimates (rsqrtss, rcpss): aaaa | bbbb",
                                            "package libc6: 2.36-9 | 2.36-10"]
    assert provenance.differences(a, a) == []


def differing(machines=()) -> Diff:
    return Diff(identical=False, frames=(100, 100), compared_through=100, first_frame=40, fields=["players[1].score"],
                machines=list(machines))


def test_a_diff_and_a_reproduction_name_what_differs_in_the_provenance_when_the_games_differ():
    diff = differing(["cpu: Xeon; fma avx2 | EPYC; avx2", "kernel: 6.1 | 6.12"])
    for text in (diff.summary(), Reproduction("a", "b", diff).summary()):
        assert "first difference at frame 40" in text
        assert "their provenance differs in: cpu: Xeon; fma avx2 | EPYC; avx2; kernel: 6.1 | 6.12" in text
        assert "floating point" not in text  # a fact, not a claimed cause


def test_they_say_nothing_of_the_provenance_when_it_agrees():
    assert "provenance" not in differing().summary()


def test_diff_recordings_compares_the_two_provenances(tmp_path):
    a = record(tmp_path, "dddddddddddd", header={"cpu": "Xeon; fma", "glibc": "2.36"})
    b = record(tmp_path, "eeeeeeeeeeee", header={"cpu": "EPYC; avx2", "glibc": "2.36"})
    assert diff_recordings(a, b).machines == ["cpu: Xeon; fma | EPYC; avx2"]
