"""``skin``: a fixed skin-colour rule inside the face region.

Classic YCrCb skin box (Chai & Ngan, 1999: 133 <= Cr <= 173, 77 <= Cb <= 127). Inside the
face region M, pixels the parsing calls skin or nose but whose colour is not skin are
flagged; gaps that the flagged area encloses (an eye under a sunglass lens) are filled. It
shows what colour alone gets: skin-coloured occluders (hands) are missed, odd lighting
causes false alarms.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from s3pot.eval.baselines.faces import Prepare, paste_union, pipeline_prepare
from s3pot.eval.predictions import Prediction
from s3pot.parsing.base import CLASS_ID, face_region

CR_RANGE = (133, 173)
CB_RANGE = (77, 127)


def skin_rule(rgb: np.ndarray) -> np.ndarray:
    """Bool mask of skin-coloured pixels of an RGB uint8 image."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= CR_RANGE[0]) & (cr <= CR_RANGE[1]) & (cb >= CB_RANGE[0]) & (cb <= CB_RANGE[1])


def skin_occlusion(aligned: np.ndarray, parsing: np.ndarray) -> np.ndarray:
    """Aligned-frame occlusion of one face by the skin rule (bool, like ``parsing``)."""
    region = face_region(parsing)
    skin_like = np.isin(parsing, [CLASS_ID["skin"], CLASS_ID["nose"]])
    flagged = skin_like & ~skin_rule(aligned)
    k = max(3, int(round(parsing.shape[0] * 0.02)) | 1)
    flagged = cv2.morphologyEx(flagged.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    flagged = cv2.morphologyEx(flagged.astype(np.uint8), cv2.MORPH_CLOSE,
                               cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    return ndimage.binary_fill_holes(flagged) & region


class SkinBaseline:
    name = "skin"

    def __init__(self, prepare: Prepare | None = None, pipeline_config=None) -> None:
        self._prepare = prepare or pipeline_prepare(reference=False, config=pipeline_config)

    def predict(self, image: np.ndarray) -> Prediction:
        faces = self._prepare(image)
        masks = [skin_occlusion(fr.aligned, fr.parsing) for fr in faces]
        return Prediction(paste_union(faces, masks, image.shape))
