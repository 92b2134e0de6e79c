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


_LIP_OUTER = 0  # upper lip, outer edge, centre
_BROW_OUTER_ENDS = frozenset((46, 70, 276, 300))  # temple-side ends of the brow arcs


@lru_cache(maxsize=1)
def parts() -> dict[str, list[int]]:
    """Name -> ordered vertex ids of each part outline."""
    from mediapipe.python.solutions import face_mesh_connections as c

    # Both lip loops have 20 vertices: tell them apart by a vertex of the outer loop (0,
    # the top of the upper lip's outer edge), not by length.
    lips_outer, lips_inner = sorted(_loops(c.FACEMESH_LIPS), key=lambda loop: _LIP_OUTER not in loop)
    out = {
        "oval": _loops(c.FACEMESH_FACE_OVAL)[0],
        "lips_inner": lips_inner,
        "lips_outer": lips_outer,
        "eye_left": _loops(c.FACEMESH_RIGHT_EYE)[0],  # subject's right = image left
        "eye_right": _loops(c.FACEMESH_LEFT_EYE)[0],
    }
    for side, edges in (("left", c.FACEMESH_RIGHT_EYEBROW), ("right", c.FACEMESH_LEFT_EYEBROW)):
        # Two open chains (lower and upper arc). Orient both outer end -> inner end, then
        # walk one forward and the other back: a simple closed ring (not a bow-tie).
        a, b = (ch if ch[0] in _BROW_OUTER_ENDS else ch[::-1] for ch in _loops(edges))
        out[f"brow_{side}"] = a + b[::-1]
    return out


# Upper brow arcs (image left to image right), used for the forehead / hairline curve.
BROW_UPPER = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
NOSE_BASE = 2  # subnasale
NOSE_BRIDGE = 197  # on the nose bridge, below the eyes: where the lower face begins
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
