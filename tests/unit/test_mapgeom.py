"""Map geometry from a synthesized BSP: floors, outline, entities, and bad files."""
import struct

import numpy as np
import pytest

from gametap.q3 import bsp, mapgeom


def build_bsp(shader_flags=(0, 1), tri_vertex_offset=0, index_count=6):
    """Two floor triangles (a 100x100 square at z=0) and one wall triangle, plus entities."""
    shaders = np.zeros(1, mapgeom.SHADER)
    shaders["name"], shaders["surfaceFlags"], shaders["contentFlags"] = b"textures/floor", *shader_flags
    verts = np.zeros(7, mapgeom.DRAWVERT)
    verts["xyz"] = [(0, 0, 0), (100, 0, 0), (100, 100, 0), (0, 100, 0), (0, 0, 0), (0, 0, 64), (0, 100, 64)]
    verts["normal"] = [(0, 0, 1)] * 4 + [(1, 0, 0)] * 3
    indexes = np.array([0, 1, 2, 0, 2, 3, 0, 1, 2], dtype="<i4")
    surfaces = np.zeros(2, mapgeom.SURFACE)
    surfaces["surfaceType"] = mapgeom.MST_PLANAR
    surfaces["firstVert"] = [tri_vertex_offset, 4]
    surfaces["numVerts"] = [4, 3]
    surfaces["firstIndex"] = [0, 6]
    surfaces["numIndexes"] = [index_count, 3]
    model = np.zeros(1, bsp.MODEL)
    model["mins"], model["maxs"], model["numSurfaces"] = (0, 0, 0), (100, 100, 64), 2
    entities = (b'{ "classname" "worldspawn" "message" "Test Room" }\n'
                b'{ "classname" "info_player_deathmatch" "origin" "10 20 30" "angle" "90" }\n'
                b'{ "classname" "weapon_railgun" "origin" "50 50 8" }\n{ "classname" "light" "origin" "1 2 3" }\0')
    lumps = {0: entities, 1: shaders.tobytes(), 7: model.tobytes(), 10: verts.tobytes(),
             11: indexes.tobytes(), 13: surfaces.tobytes()}
    body, table, offset = b"", [], bsp.HEADER.size
    for i in range(bsp.NUM_LUMPS):
        data = lumps.get(i, b"")
        table += [offset + len(body), len(data)]
        body += data
    return bsp.HEADER.pack(bsp.IDENT, bsp.VERSION, *table) + body


def test_floors_outline_and_entities():
    g = mapgeom.geometry(build_bsp(), "test")
    assert g["title"] == "Test Room" and g["bounds"] == {"min": [0, 0, 0], "max": [100, 100, 64]}
    assert len(g["floors"]["z"]) == 2  # the wall triangle is not a floor
    assert sorted(set(g["floors"]["xy"])) == [0.0, 100.0]
    segments = np.array(g["walls"]).reshape(-1, 4)
    assert len(segments) == 4  # the square's border; the shared diagonal is inside
    assert g["spawns"] == [{"classname": "info_player_deathmatch", "origin": [10.0, 20.0, 30.0], "angle": 90.0}]
    assert g["items"] == [{"classname": "weapon_railgun", "origin": [50.0, 50.0, 8.0]}]


def test_sky_and_non_solid_surfaces_are_not_drawn():
    assert mapgeom.geometry(build_bsp(shader_flags=(mapgeom.SURF_SKY, 1)), "t")["floors"]["z"] == []
    assert mapgeom.geometry(build_bsp(shader_flags=(0, 0)), "t")["floors"]["z"] == []


def test_bad_vertex_and_index_references():
    with pytest.raises(bsp.BspError, match="vertex"):
        mapgeom.geometry(build_bsp(tri_vertex_offset=100), "t")
    with pytest.raises(bsp.BspError, match="indexes run past"):
        mapgeom.geometry(build_bsp(index_count=30), "t")


def test_entity_text_parsing_tolerates_junk():
    assert bsp.parse_entities('{ "a" "1" } junk { "b" "2" "c" }') == [{"a": "1"}, {"b": "2"}]
    data = build_bsp()
    assert struct.unpack_from("<4s", data)[0] == b"IBSP"
