"""A top-down drawing of a map, derived from its BSP with numpy.

- floors: the upward-facing triangles of the static world (walkable surfaces), with their
  height, sorted low to high so that a painter draws upper floors over lower ones;
- walls: the outline of the floor regions (edges that belong to one floor triangle only),
  as 2D segments;
- spawns and items: where the map places them (its entity text).

Format: docs/abi.md, section "Map files (BSP)".
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from gametap.q3 import abi, bsp

LUMP_SHADERS, LUMP_DRAWVERTS, LUMP_DRAWINDEXES, LUMP_SURFACES = 1, 10, 11, 13
SHADER = np.dtype([("name", "S64"), ("surfaceFlags", "<i4"), ("contentFlags", "<i4")])
DRAWVERT = np.dtype([("xyz", "<f4", (3,)), ("st", "<f4", (2,)), ("lightmap", "<f4", (2,)),
                     ("normal", "<f4", (3,)), ("color", "u1", (4,))])
SURFACE = np.dtype([("shaderNum", "<i4"), ("fogNum", "<i4"), ("surfaceType", "<i4"), ("firstVert", "<i4"),
                    ("numVerts", "<i4"), ("firstIndex", "<i4"), ("numIndexes", "<i4"), ("lightmapNum", "<i4"),
                    ("lightmapX", "<i4"), ("lightmapY", "<i4"), ("lightmapWidth", "<i4"), ("lightmapHeight", "<i4"),
                    ("lightmapOrigin", "<f4", (3,)), ("lightmapVecs", "<f4", (3, 3)),
                    ("patchWidth", "<i4"), ("patchHeight", "<i4")])
assert (SHADER.itemsize, DRAWVERT.itemsize, SURFACE.itemsize) == (72, 44, 104)

MST_PLANAR, MST_PATCH, MST_TRIANGLE_SOUP = 1, 2, 3
SURF_SKY, SURF_NODRAW = 0x4, 0x80
CONTENTS_SOLID, CONTENTS_LIQUID = 0x1, 0x8 | 0x10 | 0x20
FLOOR_NORMAL_Z = 0.7
_ITEM_CLASSES = {name for name, _ in abi.ITEMS if name}


def _surface_triangles(surfaces: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    """Vertex numbers (N x 3) of the triangles of planar and triangle-soup surfaces."""
    s = surfaces[np.isin(surfaces["surfaceType"], (MST_PLANAR, MST_TRIANGLE_SOUP)) & (surfaces["numIndexes"] > 0)]
    counts = s["numIndexes"]
    starts = np.repeat(s["firstIndex"] - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    flat = np.arange(counts.sum()) + starts  # positions in the DRAWINDEXES lump
    if flat.size and (flat.max() >= len(indexes)):
        raise bsp.BspError("a surface's indexes run past the DRAWINDEXES lump")
    return (indexes[flat] + np.repeat(s["firstVert"], counts)).reshape(-1, 3)


def _patch_triangles(surfaces: np.ndarray) -> np.ndarray:
    """Two triangles per cell of every patch's control grid (a fine approximation from above)."""
    out = []
    for p in surfaces[surfaces["surfaceType"] == MST_PATCH]:
        w, h = int(p["patchWidth"]), int(p["patchHeight"])
        if w < 2 or h < 2 or w * h > p["numVerts"]:
            continue
        grid = p["firstVert"] + np.arange(w * h).reshape(h, w)
        a, b, c, d = grid[:-1, :-1].ravel(), grid[:-1, 1:].ravel(), grid[1:, :-1].ravel(), grid[1:, 1:].ravel()
        out.append(np.stack([np.stack([a, b, d], 1), np.stack([a, d, c], 1)], 1).reshape(-1, 3))
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def _outline(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """2D segments (M x 4) of edges that only one triangle has: the floors' borders."""
    keys = np.round(points).astype(np.int32)
    _, vertex_id = np.unique(keys, axis=0, return_inverse=True)
    vertex_id = vertex_id.ravel()
    t = vertex_id[triangles]
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border = unique[counts == 1]
    first_point = np.zeros((vertex_id.max() + 1 if vertex_id.size else 0, 3), dtype=np.float32)
    first_point[vertex_id] = points
    return np.concatenate([first_point[border[:, 0], :2], first_point[border[:, 1], :2]], axis=1)


def _origin(entity: dict) -> list[float] | None:
    try:
        x, y, z = (float(v) for v in entity.get("origin", "").split())
    except ValueError:
        return None
    return [round(x, 1), round(y, 1), round(z, 1)]


def geometry(data: bytes, name: str) -> dict:
    """The top-down drawing of a BSP, as JSON-ready lists."""
    mins, maxs = bsp.world_bounds(data)
    model = bsp.lump_array(data, bsp.LUMP_MODELS, bsp.MODEL)[0]
    shaders = bsp.lump_array(data, LUMP_SHADERS, SHADER)
    verts = bsp.lump_array(data, LUMP_DRAWVERTS, DRAWVERT)
    indexes = bsp.lump_array(data, LUMP_DRAWINDEXES, np.dtype("<i4"))
    surfaces = bsp.lump_array(data, LUMP_SURFACES, SURFACE)
    world = surfaces[model["firstSurface"]: model["firstSurface"] + model["numSurfaces"]]
    shader = world["shaderNum"]
    if shader.size and (shader.min() < 0 or shader.max() >= len(shaders)):
        raise bsp.BspError("a surface names a shader that does not exist")
    flags, contents = shaders["surfaceFlags"][shader], shaders["contentFlags"][shader]
    world = world[((flags & (SURF_SKY | SURF_NODRAW)) == 0) & ((contents & (CONTENTS_SOLID | CONTENTS_LIQUID)) != 0)]
    tris = np.concatenate([_surface_triangles(world, indexes), _patch_triangles(world)])
    if tris.size and (tris.min() < 0 or tris.max() >= len(verts)):
        raise bsp.BspError("a triangle names a vertex that does not exist")
    normals_z = verts["normal"][tris][:, :, 2].mean(axis=1)
    floors = tris[normals_z > FLOOR_NORMAL_Z]
    points = verts["xyz"][floors]                    # F x 3 x 3
    order = np.argsort(points[:, :, 2].mean(axis=1), kind="stable")
    points = points[order]
    heights = points[:, :, 2].mean(axis=1)
    walls = _outline(points.reshape(-1, 3), np.arange(len(points) * 3).reshape(-1, 3))
    entities = bsp.entities(data)
    spawns, items = [], []
    for e in entities:
        cls, origin = e.get("classname", ""), _origin(e)
        if origin is None:
            continue
        if cls.startswith("info_player_") or cls.startswith("team_CTF_") and cls.endswith(("spawn", "player")):
            spawns.append({"classname": cls, "origin": origin, "angle": float(e.get("angle", 0) or 0)})
        elif cls in _ITEM_CLASSES:
            items.append({"classname": cls, "origin": origin})
    return {
        "name": name,
        "title": entities[0].get("message", "") if entities else "",
        "bounds": {"min": mins.tolist(), "max": maxs.tolist()},
        "floors": {"xy": np.round(points[:, :, :2], 1).ravel().tolist(), "z": np.round(heights, 1).tolist()},
        "walls": np.round(walls, 1).ravel().tolist(),
        "spawns": spawns,
        "items": items,
    }


@functools.lru_cache(maxsize=32)
def map_geometry(basepath: Path, name: str) -> dict:
    """geometry() of an installed map, computed once per map."""
    return geometry(bsp.read_map(basepath, name), name)
