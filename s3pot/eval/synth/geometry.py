"""Face geometry from mesh landmarks that the placement rules need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s3pot.faces.topology import BROW_UPPER, NOSE_BASE, parts
from s3pot.parsing.landmarks import face_axes

CHEEK_LEFT, CHEEK_RIGHT, CHIN, NOSE_TIP = 234, 454, 152, 1


@dataclass(frozen=True)
class FaceFrame:
    """Eye centre, face axes and sizes of one face, in image pixels."""

    eye_centre: np.ndarray
    brow_centre: np.ndarray
    nose_base: np.ndarray
    nose_tip: np.ndarray
    chin: np.ndarray
    right: np.ndarray  # unit vector, image-left -> image-right along the eye line
    up: np.ndarray  # unit vector towards the forehead
    width: float  # cheek-to-cheek distance
    brow_to_nose: float

    @property
    def angle_deg(self) -> float:
        """Roll of the eye line in degrees (cv2 rotation convention)."""
        return float(np.degrees(np.arctan2(-self.right[1], self.right[0])))


def face_frame(lm: np.ndarray) -> FaceFrame:
    """:class:`FaceFrame` of 478 mesh landmarks (photo pixels)."""
    lm = np.asarray(lm, np.float64)[:, :2]
    p = parts()
    right, up = face_axes(lm)
    eyes = (lm[p["eye_left"]].mean(0) + lm[p["eye_right"]].mean(0)) / 2
    brows = lm[list(BROW_UPPER)].mean(0)
    return FaceFrame(
        eye_centre=eyes, brow_centre=brows, nose_base=lm[NOSE_BASE], nose_tip=lm[NOSE_TIP],
        chin=lm[CHIN], right=right, up=up,
        width=float(np.linalg.norm(lm[CHEEK_RIGHT] - lm[CHEEK_LEFT])),
        brow_to_nose=float(np.linalg.norm(brows - lm[NOSE_BASE])),
    )
