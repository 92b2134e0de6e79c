"""Colour models learnt from the prompts of one face, used to spread their evidence.

Contrast finds an occluder where the reference disagrees with the photo, but only where the
face model is sure; colour carries that decision over the whole occluder (the lenses of
sunglasses between their rims, the crown of a hat above its brim). Two smoothed 3-D colour
histograms (face, occluder) are built from soft seeds of the same image, and every pixel
gets the log-likelihood ratio. The occluder model is mixed with a uniform prior in
proportion to how little occluder evidence there is, so a clean face (no occluder seeds)
stays clean.
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = 16


def _hist(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    h = np.bincount(q, weights=w, minlength=BINS**3).astype(np.float32).reshape(BINS, BINS, BINS)
    h = cv2.GaussianBlur(h.reshape(BINS, BINS * BINS), (3, 3), 0).reshape(BINS, BINS, BINS)  # cheap smoothing
    return h / max(float(h.sum()), 1e-6)


def quantise(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> flat bin index of a BINS^3 Lab histogram."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    q = (lab.astype(np.int32) * BINS) >> 8
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def colour_llr(image: np.ndarray, occ_weight: np.ndarray, face_weight: np.ndarray,
               prior_mass: float) -> np.ndarray:
    """Per-pixel log p(colour | occluder) - log p(colour | face), clipped to [-4, 4].

    ``occ_weight`` / ``face_weight``: soft seed weights (H, W) >= 0. ``prior_mass``: seed
    mass below which the occluder model is mostly uniform.
    """
    q = quantise(image).reshape(-1)
    wo = occ_weight.reshape(-1).astype(np.float64)
    wf = face_weight.reshape(-1).astype(np.float64)
    h_occ = _hist(q, wo)
    h_face = _hist(q, wf)
    mass = float(wo.sum())
    lam = mass / (mass + prior_mass)
    uniform = 1.0 / BINS**3
    p_occ = lam * h_occ + (1 - lam) * uniform
    p_face = 0.9 * h_face + 0.1 * uniform
    llr = np.log(p_occ.reshape(-1)[q] + 1e-9) - np.log(p_face.reshape(-1)[q] + 1e-9)
    return np.clip(llr, -4, 4).reshape(image.shape[:2]).astype(np.float32)
