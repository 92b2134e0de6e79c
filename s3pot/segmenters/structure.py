"""Missing structure: a visible face shows its features, a flat occluder over them does not.

The reference contrast asks "does the photo differ from the face model here?". A smooth
thing of a face-like tone over the eyes, nose or mouth (a brown band, a dark lens, a palm)
can half pass that test: the model's residual scale is widest exactly where faces vary
most (mouths open and close, eyes narrow). It does not pass this one: wherever almost
every clean face shows local contrast (eyes, brows, nostrils, the lip line), a region that
is flat there is not face. (A flat mask of the face's own colour still passes: the
evidence is feature-sized and the colour models call the rest of the mask face.)

``structure_map`` is the local contrast of the photo's lightness (high-pass, then a local
RMS), divided by its 75th percentile over the face region, so that exposure, blur and
resolution cancel. The evidence prior stores, per pixel of the aligned frame, a low
quantile of it over clean faces (:data:`STRUCTURE_QUANTILE`); the evidence is how far the
photo falls below that level, and only where the level itself is clearly above zero
(:data:`STRUCTURE_FLOOR`): on a cheek, flatness says nothing.

It is one-sided on purpose: "more texture than a face shows here" was measured too (above
1.2 x the clean faces' 90th percentile): straw hats on the blurred held-out faces 0.13 ->
0.21, nothing on the dev bench, and more of sharp clean real faces flagged (a cut-off face
0.9 % -> 2.6 %: stubble, pores, hair).
"""

from __future__ import annotations

import cv2
import numpy as np

STRUCTURE_FINE = 1.5 / 128  # high-pass scale, as a share of the crop's side (1.5 px at 128)
STRUCTURE_WINDOW = 2.0 / 128  # window of the local RMS, same units
STRUCTURE_NORM = 75.0  # percentile over the face region the map is divided by
STRUCTURE_QUANTILE = 0.2  # quantile of clean faces' maps the prior stores
STRUCTURE_FLOOR = 0.3  # prior levels below this carry no evidence (flat in many faces)


def structure_map(raw: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Local contrast of ``raw`` (S, S, 3 uint8 RGB, aligned crop) relative to the face's own
    (its STRUCTURE_NORM percentile over ``region``): (S, S) float32."""
    side = raw.shape[0]
    lightness = cv2.cvtColor(raw, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    high = lightness - cv2.GaussianBlur(lightness, (0, 0), STRUCTURE_FINE * side)
    local = np.sqrt(cv2.GaussianBlur(high * high, (0, 0), STRUCTURE_WINDOW * side))
    norm = float(np.percentile(local[region], STRUCTURE_NORM)) if region.any() else 1.0
    return (local / max(norm, 1e-3)).astype(np.float32)


def missing_structure(raw: np.ndarray, region: np.ndarray, level: np.ndarray,
                      floor: float = STRUCTURE_FLOOR) -> np.ndarray:
    """Evidence in [0, 1] that ``raw`` is too flat to be face where clean faces show
    structure: (level - map) / level, weighted up from 0 at ``floor`` to 1 at twice it;
    ``level`` is the prior's map at ``raw``'s size. Zero outside ``region``."""
    s = structure_map(raw, region)
    lv = np.asarray(level, np.float32)
    below = np.clip((lv - s) / np.maximum(lv, 1e-3), 0.0, 1.0)
    where = np.clip((lv - floor) / max(floor, 1e-3), 0.0, 1.0)
    return (below * where * region).astype(np.float32)
