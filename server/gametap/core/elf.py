"""The GNU build-id of an ELF file (the note the linker writes, `readelf -n`): which build of a
binary or library ran, for a recording's provenance. The game's module reports its own from
inside the game (native/src/shim.c); the engine binary and the preloaded library are read here.
"""
from __future__ import annotations

import struct
from pathlib import Path

_IDENT = struct.Struct("<4sBB")            # magic, class (2: 64-bit), data (1: little-endian)
_HEADER = struct.Struct("<16xHHIQQQIHHHHHH")  # ELF64 header after e_ident
_PHDR = struct.Struct("<IIQQQQQQ")         # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
_NOTE = struct.Struct("<III")              # namesz, descsz, type
PT_NOTE, NT_GNU_BUILD_ID = 4, 3
MAX_NOTES_BYTES = 1 << 16


def build_id(path: Path) -> str:
    """The build-id in hex, or "" when the file is not a 64-bit little-endian ELF file, has no
    such note, or cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size or _IDENT.unpack_from(head) != (b"\x7fELF", 2, 1):
                return ""
            fields = _HEADER.unpack(head)
            phoff, phentsize, phnum = fields[4], fields[8], fields[9]
            if phentsize < _PHDR.size:
                return ""
            for i in range(min(phnum, 256)):
                f.seek(phoff + i * phentsize)
                raw = f.read(_PHDR.size)
                if len(raw) < _PHDR.size:
                    return ""
                p_type, _, offset, _, _, filesz, _, _ = _PHDR.unpack(raw)
                if p_type == PT_NOTE:
                    f.seek(offset)
                    found = _gnu_build_id(f.read(min(filesz, MAX_NOTES_BYTES)))
                    if found:
                        return found
    except OSError:
        return ""
    return ""


def _gnu_build_id(notes: bytes) -> str:
    at = 0
    while at + _NOTE.size <= len(notes):
        namesz, descsz, kind = _NOTE.unpack_from(notes, at)
        name_at = at + _NOTE.size
        desc_at = name_at + (namesz + 3) // 4 * 4
        end = desc_at + (descsz + 3) // 4 * 4
        if desc_at + descsz > len(notes):
            return ""
        if kind == NT_GNU_BUILD_ID and notes[name_at:name_at + namesz] == b"GNU\x00":
            return notes[desc_at:desc_at + descsz].hex()
        at = end
    return ""
