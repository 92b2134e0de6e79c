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

The same maps also check a finished mask (:func:`looks_inverted`): when a face-toned
occluder wins the face model's fit, the visible face is what gets flagged, and the mask's
visible part is then the flat one while its flagged part shows the features.

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
FEATURE_LEVEL = 0.6  # prior levels above this: features nearly every clean face shows
# The inversion test (looks_inverted). A large occluder of a face's own tone (another
# person's skin, a hand over half the face) can win the face model's robust fit, and the
# segmenter then flags the visible half; the features say which half is the face. On the
# dev bench the three such masks (a quarter to a half of M flagged) have visible parts at
# 0.21-0.48 and occluded parts at 1.26-1.46; every correct mask with occluded parts at 1.0
# or more has visible parts at 0.87 or more (hats, whose straw is textured), and the
# correct masks with flat visible parts (0.24-0.44: blurred faces behind sunglasses) have
# occluded parts at 0.73-0.77 (the lenses are flat).
INVERTED_VISIBLE_MAX = 0.65
INVERTED_OCCLUDED_MIN = 1.0
INVERTED_MIN_SHARE = 0.25  # of the face region flagged
INVERTED_MIN_FEATURES = 0.1  # share of the face's feature pixels on either side
# The lower face's features are missing (:func:`lower_face_missing`) when their agreement
# (:func:`feature_agreement` below the nose bridge, on the structure map rescaled to the
# face region's median) is under this. The median, not the map's own 75th percentile:
# an occluder's strong edges elsewhere (sunglasses) raise the upper percentiles and made
# a clean lower face look flat (the gate opened on 22 of the dev bench's 55 sunglasses).
# Measured (5th-95th percentile): flat masks over the lower face (s3pot.eval.synth.masks,
# beige and white, 50 dev frames) 0.07-0.63; unmasked, 1.29-1.50 on 50 clean dev frames;
# sunglasses 0.98-1.47.
LOWER_FACE_MISSING = 0.8


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
                      floor: float = STRUCTURE_FLOOR, structure: np.ndarray | None = None
                      ) -> np.ndarray:
    """Evidence in [0, 1] that ``raw`` is too flat to be face where clean faces show
    structure: (level - map) / level, weighted up from 0 at ``floor`` to 1 at twice it;
    ``level`` is the prior's map at ``raw``'s size (``structure``: ``raw``'s map, if
    computed already). Zero outside ``region``."""
    s = structure_map(raw, region) if structure is None else structure
    lv = np.asarray(level, np.float32)
    below = np.clip((lv - s) / np.maximum(lv, 1e-3), 0.0, 1.0)
    where = np.clip((lv - floor) / max(floor, 1e-3), 0.0, 1.0)
    return (below * where * region).astype(np.float32)



def feature_agreement(structure: np.ndarray, level: np.ndarray, where: np.ndarray,
                      feature: float = FEATURE_LEVEL, cap: float = 1.5) -> tuple[float, int]:
    """Mean of ``structure / level`` (capped at ``cap``) over the pixels of ``where`` at
    which nearly every clean face shows a feature (``level`` above ``feature``: eyes,
    brows, nostrils, the lip line), and how many such pixels there are (NaN, 0 if none).
    About 1 or more: this part shows the features a face shows there; well below 1: it is
    flat where a face is not."""
    feat = where & (level > feature)
    n = int(feat.sum())
    if n == 0:
        return float("nan"), 0
    return float(np.minimum(structure[feat] / np.maximum(level[feat], 1e-3), cap).mean()), n


def lower_face(region: np.ndarray, nose_bridge_y: float) -> np.ndarray:
    """The part of ``region`` below the row of the nose bridge (the mouth, nostrils, chin)."""
    low = np.zeros_like(region, dtype=bool)
    low[max(int(np.ceil(nose_bridge_y)), 0):] = True
    return low & region


def lower_face_missing(structure: np.ndarray, level: np.ndarray, region: np.ndarray,
                       lower: np.ndarray, threshold: float = LOWER_FACE_MISSING) -> bool:
    """True when the lower face (``lower``, :func:`lower_face`) is flat where nearly every
    clean face shows its nostrils and lip line: something flat covers the mouth (a mask,
    a scarf, a cup). ``structure`` is rescaled to its median over ``region`` first (see
    LOWER_FACE_MISSING). False when the lower face shows no feature pixels at all."""
    if not region.any():
        return False
    median = float(np.median(structure[region]))
    agreement, n = feature_agreement(structure / max(median, 1e-3), level, lower)
    return n > 0 and agreement < threshold


def looks_inverted(occluded: np.ndarray, region: np.ndarray, structure: np.ndarray,
                   level: np.ndarray, visible_max: float = INVERTED_VISIBLE_MAX,
                   occluded_min: float = INVERTED_OCCLUDED_MIN) -> bool:
    """True when a mask has the face and its occluder the wrong way round: the part called
    visible is flat where faces show features (:func:`feature_agreement` under
    ``visible_max``) while the part called occluded shows them at full strength (at least
    ``occluded_min``). Only for masks over INVERTED_MIN_SHARE of ``region`` with
    INVERTED_MIN_FEATURES of the feature pixels on either side, so a small occluder or
    one that hides every feature (the eyes and the mouth) is never judged this way."""
    occluded = occluded & region
    visible = region & ~occluded
    if occluded.sum() < INVERTED_MIN_SHARE * max(int(region.sum()), 1):
        return False
    a_occ, n_occ = feature_agreement(structure, level, occluded)
    a_vis, n_vis = feature_agreement(structure, level, visible)
    if min(n_occ, n_vis) < INVERTED_MIN_FEATURES * (n_occ + n_vis):
        return False
    return a_vis < visible_max and a_occ >= occluded_min
