"""Overlapping tiles for a face detector with a small fixed input, and box merging.

mediapipe's full-range detector sees its input at 192 px and finds faces down to about
7 % of that side (measured on the astronaut: 12-14 px). Run on a whole 6000 px photo it
misses every face under ~450 px; run on tiles of side T it finds faces down to ~0.08 T.
Tiles overlap so that every face the whole view cannot find lies (nearly) whole in one
tile: the detector tolerates about a fifth of a face cut by its input border, not more.

Each extra tile costs one detector call (~10 ms), so the tiling is the finest one that
fits ``max_tiles``: on a 24-Mpx photo that is faces down to ~100 px, on a 2-Mpx one ~45 px.
"""

from __future__ import annotations

import math

import numpy as np

DETECTOR_INPUT = 192  # mediapipe full-range detector input side
MIN_FACE_FRACTION = 0.08  # smallest face it finds reliably, in input sides (box side)
TILE_MIN = 3 * DETECTOR_INPUT  # finer tiles would only find faces too small to segment
MAX_TILES = 24


def plan_tiles(width: int, height: int, min_face: float = 0.0,
               max_tiles: int = MAX_TILES) -> list[tuple[int, int, int, int]]:
    """Tiles ``(x, y, w, h)`` (photo pixels) that let the detector find faces down to
    ``min_face`` px (or as small as ``max_tiles`` allows); [] when the whole view suffices."""
    long = max(width, height)
    side = max(TILE_MIN, min_face / MIN_FACE_FRACTION)
    # Tiles that add less resolution than 1.5x are not worth their calls. 2x was measured
    # (it saves a half-length portrait its two tiles, ~10 ms of a 2-Mpx photo's ~45 ms):
    # faces of 0.33-0.6 of the main face's size pasted into biden.jpg, obama-1080p.jpg and
    # two_people.jpg (12 each) were then found 15 of 36 times instead of 24.
    while 1.5 * side <= long:
        s = int(side)
        # A face of side f in an overlap o is cut by at most (f - o) / 2 in the best tile:
        # o = 0.06 * long keeps faces up to 0.1 * long (the whole view finds faces from
        # ~0.08 * long) at most a fifth cut; a quarter tile keeps small faces whole.
        overlap = min(s // 2, max(s // 4, int(0.06 * long)))
        xs, ys = _starts(width, s, s - overlap), _starts(height, s, s - overlap)
        if len(xs) * len(ys) <= max_tiles:
            return [(x, y, min(s, width), min(s, height)) for y in ys for x in xs]
        side *= 1.05
    return []


def _starts(length: int, side: int, stride: int) -> list[int]:
    """Evenly spread starts of tiles of ``side`` covering ``length``, gaps <= ``stride``."""
    if length <= side:
        return [0]
    n = math.ceil((length - side) / stride) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """Indices of the boxes ``(x0, y0, x1, y1)`` kept, best score first: overlapping tiles
    report the same face several times, and each report would cost a mesh run."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    keep: list[int] = []
    for i in order:
        if keep:
            k = boxes[keep]
            lo = np.maximum(k[:, :2], boxes[i, :2])
            hi = np.minimum(k[:, 2:], boxes[i, 2:])
            inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
            if (inter / (area[keep] + area[i] - inter + 1e-9) > iou).any():
                continue
        keep.append(int(i))
    return np.array(keep, dtype=int)
