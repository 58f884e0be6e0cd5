"""Quake 3 BSP (IBSP version 46) reading: header, lumps, entities and the world model's bounds.

Format: docs/abi.md, section "Map files (BSP)". Map files come from the
game's pk3 archives; every read is bounds-checked and a malformed file raises
BspError.
"""
from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from gametap.q3.game_data import pk3_files

IDENT = b"IBSP"
VERSION = 46
NUM_LUMPS = 17
HEADER = struct.Struct("<4si" + "ii" * NUM_LUMPS)
LUMP_ENTITIES, LUMP_MODELS = 0, 7
_ENTITY = re.compile(r"\{([^{}]*)\}")
_PAIR = re.compile(r'"([^"]*)"\s+"([^"]*)"')
MODEL = np.dtype([("mins", "<f4", (3,)), ("maxs", "<f4", (3,)), ("firstSurface", "<i4"),
                  ("numSurfaces", "<i4"), ("firstBrush", "<i4"), ("numBrushes", "<i4")])
assert MODEL.itemsize == 40


class BspError(Exception):
    pass


def lumps(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every lump, checked against the file's size."""
    if len(data) < HEADER.size:
        raise BspError(f"{len(data)} bytes is shorter than the {HEADER.size}-byte BSP header")
    ident, version, *raw = HEADER.unpack_from(data)
    if ident != IDENT:
        raise BspError(f"not a Quake 3 BSP (ident {ident!r})")
    if version != VERSION:
        raise BspError(f"BSP version {version}; only {VERSION} is supported")
    out = list(zip(raw[0::2], raw[1::2]))
    for i, (offset, length) in enumerate(out):
        if offset < 0 or length < 0 or offset + length > len(data):
            raise BspError(f"lump {i} ({offset}+{length}) lies outside the {len(data)}-byte file")
    return out


def lump_array(data: bytes, index: int, dtype: np.dtype) -> np.ndarray:
    offset, length = lumps(data)[index]
    if length % dtype.itemsize:
        raise BspError(f"lump {index} is {length} bytes, not a multiple of its {dtype.itemsize}-byte records")
    return np.frombuffer(data, dtype, count=length // dtype.itemsize, offset=offset)


def parse_entities(text: str) -> list[dict[str, str]]:
    """`{ "key" "value" ... }` blocks -> one dict each (anything between blocks is skipped)."""
    return [dict(_PAIR.findall(block)) for block in _ENTITY.findall(text)]


def entities(data: bytes) -> list[dict[str, str]]:
    """The map's entities (lump 0: NUL-terminated text, the first block being worldspawn)."""
    offset, length = lumps(data)[LUMP_ENTITIES]
    return parse_entities(data[offset:offset + length].split(b"\0")[0].decode("latin-1"))


def world_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """mins, maxs of model 0 (the static world): every playable point lies inside."""
    models = lump_array(data, LUMP_MODELS, MODEL)
    if len(models) == 0:
        raise BspError("the BSP has no world model")
    return models[0]["mins"].copy(), models[0]["maxs"].copy()


def read_map(basepath: Path, name: str) -> bytes:
    """maps/<name>.bsp from the game's pk3 files (the last archive that has it wins)."""
    pk3 = map_archive(basepath, name)
    if pk3 is None:
        raise BspError(f"no maps/{name}.bsp in the game's pk3 files")
    try:
        with zipfile.ZipFile(pk3) as archive:
            return archive.read(f"maps/{name}.bsp")
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise BspError(f"cannot read {pk3}: {e}") from e


def map_archive(basepath: Path, name: str) -> Path | None:
    """The pk3 the game loads maps/<name>.bsp from (the last archive that has it wins)."""
    inner, found = f"maps/{name}.bsp", None
    for pk3 in pk3_files(basepath):
        try:
            with zipfile.ZipFile(pk3) as archive:
                archive.getinfo(inner)
        except KeyError:
            continue
        except (OSError, zipfile.BadZipFile) as e:
            raise BspError(f"cannot read {pk3}: {e}") from e
        found = pk3
    return found
