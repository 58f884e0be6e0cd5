"""gametap.core.elf.build_id: the build-id `readelf -n` shows, and "" for anything that is not an ELF
file with one (it reads files the settings name: never an exception)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from gametap.core.elf import build_id

BINARIES = ("/usr/lib/ioquake3/ioq3ded", "/usr/lib/openarena-server/baseoa/qagamex86_64.so", "/bin/ls")


def readelf_build_id(path: str) -> str:
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def test_it_is_what_readelf_shows():
    for path in BINARIES:
        assert build_id(Path(path)) == readelf_build_id(path)


def test_bad_files_give_no_build_id(tmp_path):
    whole = Path(BINARIES[0]).read_bytes()
    cases = {
        "missing": None,
        "empty": b"",
        "text": b"not an elf file at all\n" * 10,
        "random": os.urandom(4096),
        "elf magic only": b"\x7fELF",
        "32-bit": b"\x7fELF\x01\x01" + whole[6:4096],
        "big-endian": b"\x7fELF\x02\x02" + whole[6:4096],
        "truncated header": whole[:40],
        "truncated program headers": whole[:100],
        "headers, no notes": whole[:1024] if b"GNU\x00" not in whole[:1024] else b"",
    }
    for name, data in cases.items():
        path = tmp_path / name.replace(" ", "_")
        if data is not None:
            path.write_bytes(data)
        assert build_id(path) == "", name
    (tmp_path / "dir").mkdir()
    assert build_id(tmp_path / "dir") == ""


def test_a_corrupt_note_is_not_read_past_its_segment(tmp_path):
    whole = bytearray(Path(BINARIES[0]).read_bytes())
    at = whole.index(bytes.fromhex(readelf_build_id(BINARIES[0]))) - 16  # its note's head: namesz, descsz, type, "GNU"
    whole[at + 4:at + 8] = (1 << 30).to_bytes(4, "little")  # a descsz far past the segment
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(whole[:8192]))
    assert build_id(path) == ""
