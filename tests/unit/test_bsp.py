"""BSP reading on bad input, and on a synthesized minimal file."""
import random
import struct

import numpy as np
import pytest

from gametap.q3 import bsp


def minimal_bsp(mins=(-10.0, -20.0, -30.0), maxs=(10.0, 20.0, 30.0)):
    model = np.zeros(1, bsp.MODEL)
    model["mins"], model["maxs"] = mins, maxs
    body = model.tobytes()
    lumps = [(0, 0)] * bsp.NUM_LUMPS
    lumps[bsp.LUMP_MODELS] = (bsp.HEADER.size, len(body))
    return bsp.HEADER.pack(bsp.IDENT, bsp.VERSION, *[v for pair in lumps for v in pair]) + body


def test_world_bounds_of_a_minimal_file():
    mins, maxs = bsp.world_bounds(minimal_bsp())
    assert mins.tolist() == [-10, -20, -30] and maxs.tolist() == [10, 20, 30]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:100], "shorter than"),
    (lambda d: b"VBSP" + d[4:], "not a Quake 3 BSP"),
    (lambda d: d[:4] + struct.pack("<i", 47) + d[8:], "version 47"),
    (lambda d: d[:-1], "outside"),
    (lambda d: d[:8 + 8 * 7 + 4] + struct.pack("<i", 39) + d[8 + 8 * 7 + 8:], "multiple"),
])
def test_bad_files_are_refused_clearly(mutate, message):
    with pytest.raises(bsp.BspError, match=message):
        bsp.world_bounds(mutate(minimal_bsp()))


def test_random_bytes():
    rng = random.Random(11)
    for _ in range(500):
        data = bsp.IDENT + struct.pack("<i", 46) + rng.randbytes(rng.randint(0, 300))
        try:
            bsp.world_bounds(data)
        except bsp.BspError:
            pass


def bsp_with_entities(text: bytes, claimed: int | None = None) -> bytes:
    """A minimal file whose entity lump holds `text` (and claims `claimed` bytes, if given)."""
    data = minimal_bsp()
    lumps = list(bsp.HEADER.unpack_from(data)[2:])
    lumps[2 * bsp.LUMP_ENTITIES:2 * bsp.LUMP_ENTITIES + 2] = [len(data), len(text) if claimed is None else claimed]
    return bsp.HEADER.pack(bsp.IDENT, bsp.VERSION, *lumps) + data[bsp.HEADER.size:] + text


def test_entities_of_a_file():
    text = b'{\n"classname" "worldspawn"\n}\n{\n"classname" "team_CTF_redflag"\n"gametype" "ctf"\n}\n\0junk { "a" "b" }'
    assert bsp.entities(bsp_with_entities(text)) == [{"classname": "worldspawn"},
                                                     {"classname": "team_CTF_redflag", "gametype": "ctf"}]
    assert bsp.entities(bsp_with_entities(b'{ "classname" "x"')) == []  # cut inside its block: nothing whole
    with pytest.raises(bsp.BspError, match="outside"):
        bsp.entities(bsp_with_entities(b'{ "a" "b" }', claimed=1000))


def test_random_bytes_as_entities():
    rng = random.Random(12)
    for _ in range(300):
        text = bytes(rng.choice(b'{}"\\\n \0ab') for _ in range(rng.randint(0, 400))) if rng.random() < 0.5 \
            else rng.randbytes(rng.randint(0, 400))
        for entity in bsp.entities(bsp_with_entities(text)):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in entity.items())
