"""The host's CPU in a recording's provenance, and what diff and reproduce say when the CPUs differ."""
from __future__ import annotations

from gametap import provenance
from gametap.archive import Archive
from gametap.diff import Diff, diff_recordings
from gametap.reproduce import Reproduction

from .test_archive import record

XEON = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx512f avx2 fma ssse3\n\n"


def test_the_cpu_is_its_model_and_the_features_libm_follows(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(XEON)
    assert provenance.cpu.__wrapped__(info) == "Intel(R) Xeon(R) Processor; fma avx2 avx512f"
    info.write_text("model name\t: Old CPU\nflags\t\t: fpu sse2\n")
    assert provenance.cpu.__wrapped__(info) == "Old CPU"
    assert provenance.cpu.__wrapped__(tmp_path / "missing")  # no /proc: platform's name for it


def test_the_header_names_this_host_s_cpu_and_the_archive_shows_it(tmp_path):
    assert provenance.header("m", provenance.mpb.MatchConfig(), {})["cpu"] == provenance.cpu()
    record(tmp_path, "cccccccccccc", header={"cpu": "Some CPU; fma"})
    assert Archive(tmp_path).describe("cccccccccccc", verify=False).provenance.cpu == "Some CPU; fma"


def differing(cpus=("", "")) -> Diff:
    return Diff(identical=False, frames=(100, 100), compared_through=100, first_frame=40, fields=["players[1].score"],
                cpus=cpus)


def test_a_diff_and_a_reproduction_name_two_different_cpus_when_the_games_differ():
    diff = differing(("Xeon; fma avx2", "EPYC; avx2"))
    for text in (diff.summary(), Reproduction("a", "b", diff).summary()):
        assert "first difference at frame 40" in text
        assert "recorded on a Xeon; fma avx2 CPU and on a EPYC; avx2 one" in text


def test_they_say_nothing_of_cpus_when_they_agree_or_the_games_do():
    same = differing(("Xeon; fma", "Xeon; fma")).summary()
    unknown = differing(("", "Xeon; fma")).summary()  # an older recording
    identical = Reproduction("a", "b", Diff(identical=True, frames=(9, 9), compared_through=9,
                                            cpus=("Xeon; fma", "EPYC"))).summary()
    assert "CPU" not in same + unknown + identical


def test_diff_recordings_reads_each_recording_s_cpu(tmp_path):
    a = record(tmp_path, "dddddddddddd", header={"cpu": "Xeon; fma"})
    b = record(tmp_path, "eeeeeeeeeeee", header={"cpu": "EPYC; avx2"})
    assert diff_recordings(a, b).cpus == ("Xeon; fma", "EPYC; avx2")
