"""Flat face masks over the lower face: an occluder kind the developers' benchmark lacks.

Used by ``benchmarks/mask_occluders.py`` and the face-stage tests. The mask is the convex
hull of the face-mesh oval below the nose bridge, filled with one colour and a soft
vertical shading (a surgical or cloth mask seen from the front, without folds).
"""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.faces.topology import NOSE_BRIDGE, parts

MASK_COLOURS: dict[str, tuple[int, int, int]] = {
    "light blue": (170, 200, 225), "white": (235, 235, 235), "black": (40, 40, 45),
    "beige": (200, 160, 140),
}


def mask_polygon(landmarks: np.ndarray) -> np.ndarray:
    """Convex hull (P, 2) of the mesh oval points below the nose bridge, photo pixels."""
    oval = landmarks[parts()["oval"]]
    below = oval[oval[:, 1] > landmarks[NOSE_BRIDGE, 1]]
    return cv2.convexHull(below.astype(np.float32))[:, 0]


def draw_mask(image: np.ndarray, polygon: np.ndarray,
              colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with a shaded flat mask inside ``polygon``, and the mask (H, W) bool."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(polygon).astype(np.int32)], 1)
    shade = np.linspace(0.9, 1.05, h, dtype=np.float32)[:, None, None]
    fill = np.clip(np.array(colour, np.float32) * shade, 0, 255)
    out = np.where(m[..., None] > 0, fill, image.astype(np.float32))
    return out.astype(np.uint8), m > 0
