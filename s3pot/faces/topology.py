"""Ordered outlines of face parts on the 478-point mediapipe mesh.

mediapipe ships its parts as unordered edge sets; polygons need ordered loops. We order
them once here, so that every stage (parsing, reference, synthesis) draws the same parts.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _loops(edges: frozenset) -> list[list[int]]:
    """Split an edge set into ordered chains/loops of vertex ids."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen: set[int] = set()
    chains = []
    # Start chains at degree-1 vertices first (open chains), then at any unseen vertex.
    starts = [v for v, n in adj.items() if len(n) == 1] + sorted(adj)
    for s in starts:
        if s in seen:
            continue
        chain = [s]
        seen.add(s)
        cur = s
        while True:
            nxt = [n for n in adj[cur] if n not in seen]
            if not nxt:
                break
            cur = nxt[0]
            chain.append(cur)
            seen.add(cur)
        chains.append(chain)
    return chains


@lru_cache(maxsize=1)
def parts() -> dict[str, list[int]]:
    """Name -> ordered vertex ids of each part outline."""
    from mediapipe.python.solutions import face_mesh_connections as c

    lips = sorted(_loops(c.FACEMESH_LIPS), key=len)
    out = {
        "oval": _loops(c.FACEMESH_FACE_OVAL)[0],
        "lips_inner": lips[0],
        "lips_outer": lips[1],
        "eye_left": _loops(c.FACEMESH_RIGHT_EYE)[0],  # subject's right = image left
        "eye_right": _loops(c.FACEMESH_LEFT_EYE)[0],
    }
    for side, edges in (("left", c.FACEMESH_RIGHT_EYEBROW), ("right", c.FACEMESH_LEFT_EYEBROW)):
        a, b = _loops(edges)
        out[f"brow_{side}"] = a + b[::-1] if a[-1] != b[-1] else a + b[::-1][1:]
    return out


# Upper brow arcs (image left to image right), used for the forehead / hairline curve.
BROW_UPPER = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
NOSE_BASE = 2  # subnasale
NOSE_POINTS = (168, 6, 197, 195, 5, 4, 45, 220, 115, 48, 64, 98, 97, 2, 326, 327, 294, 278,
               344, 440, 275)


def tessellation() -> np.ndarray:
    """(T, 3) triangles of the mesh, from mediapipe's tessellation edges."""
    from mediapipe.python.solutions import face_mesh_connections as c

    adj: dict[int, set[int]] = {}
    for a, b in c.FACEMESH_TESSELATION:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, nb in adj.items():
        for b in nb:
            if b <= a:
                continue
            for k in nb & adj[b]:
                if k > b:
                    tris.add((a, b, k))
    return np.array(sorted(tris), dtype=np.int32)
