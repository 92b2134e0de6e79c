"""Paste back: per-face results (aligned frames) -> one photo-frame answer.

Each face keeps its own frame through every stage; only here are masks mapped back, with
the exact inverse of the alignment. Overlapping faces are combined by union.
"""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.parsing.base import face_region
from s3pot.types import FaceResult


def photo_masks(faces: list[FaceResult], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Union over faces of occlusion, visible face and face region, in the photo frame."""
    h, w = shape[:2]
    occ = np.zeros((h, w), bool)
    vis = np.zeros((h, w), bool)
    region = np.zeros((h, w), bool)
    for f in faces:
        t = f.transform
        m = face_region(f.parsing)
        region |= t.to_photo_mask(m, (h, w))
        if f.occlusion_prob is not None:
            # Soft map -> photo frame -> threshold: edges land where the decoder put them.
            p = t.to_photo_mask(f.occlusion_prob, (h, w), soft=True)
            occ |= p >= 0.5
        elif f.occlusion is not None:
            occ |= t.to_photo_mask(f.occlusion, (h, w))
        if f.visible is not None:
            vis |= t.to_photo_mask(f.visible, (h, w))
    vis &= ~occ  # a pixel covered for one face is not "visible face" for another
    return {"occlusion": occ & region, "visible": vis, "face_region": region}


def paste_references(image: np.ndarray, faces: list[FaceResult], feather: float = 0.02) -> np.ndarray:
    """The photo with each face's reference pasted back inside its face region.

    The paste is feathered over ``feather`` x crop size so no seam shows.
    """
    out = image.copy()
    h, w = image.shape[:2]
    for f in faces:
        if f.reference is None:
            continue
        m = face_region(f.parsing).astype(np.float32)
        k = max(1, int(round(feather * f.transform.size))) * 2 + 1
        m = cv2.GaussianBlur(m, (k, k), 0)
        # Only the face's box of the photo is touched: a float copy of a 40-Mpx photo per
        # face cost seconds.
        box, alpha = f.transform.roi_warp(m, (h, w))
        if box is None:
            continue
        _, ref = f.transform.roi_warp(f.reference, (h, w))
        x0, y0, x1, y1 = box
        a = np.clip(alpha, 0.0, 1.0)[..., None]
        here = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(np.rint(here * (1 - a) + ref.astype(np.float32) * a), 0, 255)
    return out
