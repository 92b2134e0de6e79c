"""Pictures for people: overlays, parsing in the photo frame."""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.parsing.base import PALETTE
from s3pot.types import FaceResult

OCCLUSION_TINT = np.array([255, 40, 40], np.float32)


def overlay(image: np.ndarray, occlusion: np.ndarray, faces: list[FaceResult],
            face_region: np.ndarray | None = None) -> np.ndarray:
    """Occlusion tinted red, face-region outline thin white, face boxes green.

    Only the tinted pixels go through float: a float copy of a 40-Mpx photo is 0.5 GB.
    """
    out = image.copy()
    if occlusion.any():
        px = out[occlusion].astype(np.float32)
        out[occlusion] = np.clip(0.45 * px + 0.55 * OCCLUSION_TINT, 0, 255).astype(np.uint8)
    thick = max(1, round(max(image.shape[:2]) / 400))
    if face_region is not None and face_region.any():
        contours, _ = cv2.findContours(face_region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, thick // 2))
    for f in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in f.face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (40, 220, 40), thick)
    return out


def parsing_in_photo(image: np.ndarray, faces: list[FaceResult], alpha: float = 0.6) -> np.ndarray:
    """Every face's parsing, coloured, pasted back over the photo."""
    h, w = image.shape[:2]
    out = image.copy()
    for f in faces:
        # Only the face's box of the photo (AlignTransform.roi_warp), as in paste_references.
        box, labels = f.transform.roi_warp(f.parsing, (h, w), cv2.INTER_NEAREST)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        part = out[y0:y1, x0:x1]
        m = labels > 0
        px = part[m].astype(np.float32)
        part[m] = np.clip((1 - alpha) * px + alpha * PALETTE[labels[m]], 0, 255).astype(np.uint8)
    return out
