"""Graph-cut decoding (GrabCut) seeded by the occlusion score.

GrabCut (Rother et al.) alternates colour mixture models of the two classes with a min-cut
whose pairwise term is contrast-sensitive, so the cut runs along the photo's edges and one
colour-consistent occluder is taken whole once part of it is found. Here the classes are
occluder (foreground) and visible face (background); only the face region takes part: the
pixels outside it are painted with the face's median colour and fixed as background, so
background colours never enter the face model.
"""

from __future__ import annotations

import cv2
import numpy as np


def grabcut_refine(image: np.ndarray, score: np.ndarray, region: np.ndarray, threshold: float,
                   sure: float, iterations: int = 2) -> np.ndarray:
    """Occluder mask (bool) from a score map: seeds ``score >= threshold`` (probable
    occluder), ``>= sure`` (certain); ``<= 1 - sure`` certain face; the rest probable face."""
    if not region.any():
        return np.zeros(region.shape, bool)
    mask = np.full(region.shape, cv2.GC_PR_BGD, np.uint8)
    mask[score >= threshold] = cv2.GC_PR_FGD
    mask[score >= sure] = cv2.GC_FGD
    mask[score <= 1.0 - sure] = cv2.GC_BGD
    mask[~region] = cv2.GC_BGD
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    bg = region & ~fg
    if fg.sum() < 8 or bg.sum() < 8:  # GrabCut needs both classes; nothing to refine
        return fg & region
    img = image.copy()
    img[~region] = np.median(image[bg], axis=0).astype(np.uint8)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.grabCut(img, mask, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)) & region
