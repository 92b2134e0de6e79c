"""Edge-aware decoding: the soft occlusion field is snapped onto the photo's edges.

Prompts and evidence live on coarse grids; masks must follow the image (a hat brim, the
rim of sunglasses, fingers). The fast global smoother (Min et al., weighted least squares
with the photo as guide, opencv-contrib's ximgproc) diffuses the field freely inside regions
of similar colour and stops at colour edges, so a transition that straddles an edge ends
up *on* the edge. It is O(pixels): a few milliseconds at 128 px.

The guided filter (He et al.) does the same job at the photo's resolution when the mask is
pasted back (:mod:`s3pot.paste`), with its fit made on a shrunk copy of a large face.
"""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.resample import shrink


def snap_to_edges(guide: np.ndarray, soft: np.ndarray, smoothness: float, colour_sigma: float,
                  weight: np.ndarray | None = None) -> np.ndarray:
    """Edge-aware smoothing of ``soft`` (H, W float) guided by ``guide`` (H, W, 3 uint8).

    ``smoothness`` (lambda) sets how far the field spreads inside a region; ``colour_sigma``
    (grey levels) sets how large a colour step stops it. ``weight`` (H, W, in [0, 1]), if
    given, says how much each pixel's value counts (normalised smoothing: the smoothed
    ``soft * weight`` over the smoothed ``weight``): pixels of weight 0 receive values from
    their surroundings but give none. Where the whole colour region has weight 0 the
    result is 0.
    """
    g = np.ascontiguousarray(guide)
    src = np.ascontiguousarray(soft, dtype=np.float32)
    if weight is None:
        return cv2.ximgproc.fastGlobalSmootherFilter(g, src, float(smoothness), float(colour_sigma))
    w = np.ascontiguousarray(weight, dtype=np.float32)
    # One filter object for both passes: building it (the guide's edge weights) is half of
    # a call's cost, and the two passes share the guide.
    smoother = cv2.ximgproc.createFastGlobalSmootherFilter(g, float(smoothness), float(colour_sigma))
    num = smoother.filter(src * w)
    den = smoother.filter(w)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


def keep_strong(snapped: np.ndarray, before: np.ndarray, margin: float,
                where: np.ndarray | None = None) -> np.ndarray:
    """``snapped``, but nowhere below ``before - margin`` (inside ``where``, if given).

    The smoother spreads a field freely inside a region of similar colour: strong evidence
    only a few pixels wide with no colour step around it (a skin-toned bar, a soft-edged
    strap, a finger) is averaged with its surroundings and falls under the decision
    threshold. Evidence well above the threshold keeps its excess over ``margin``; weak
    evidence (under ``margin``) gets nothing from this, so the smoother still decides it.
    """
    floor = before - float(margin)
    if where is not None:
        floor = np.where(where, floor, -np.inf)
    return np.maximum(snapped, floor).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float,
                  coarse_side: int = 0) -> np.ndarray:
    """Colour guided filter (He et al.) of ``src`` (H, W float) by ``guide`` (H, W, 3 uint8).

    The filter fits ``src ~ a . guide + b`` in every (2 radius + 1)^2 window (``eps``: guide
    variance, grey levels^2, below which a window is smoothed across rather than followed)
    and averages the fits. ``coarse_side`` > 0 fits ``a`` and ``b`` on a copy shrunk to at
    most that side, then applies their (smooth) upsampled fields to the full-resolution
    guide (He & Sun's fast guided filter): the output still follows the photo's edges at
    full resolution, and the cost of the fit no longer grows with the photo: on a 600 px
    box, ~9 ms at ``coarse_side`` 128 against ~35 ms for the full fit (OpenCV's ximgproc,
    used when no shrinking is asked for: the same filter, exactly), values within 0.03.
    """
    h, w = src.shape
    f = min(1.0, coarse_side / max(h, w)) if coarse_side > 0 else 1.0
    g = np.ascontiguousarray(guide)
    p = np.ascontiguousarray(src, np.float32)
    if f >= 1.0:  # the same filter, and OpenCV's is faster at full resolution
        return cv2.ximgproc.guidedFilter(g, p, max(1, int(radius)), float(eps))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    g_lo = shrink(g, size).astype(np.float32)
    p_lo = shrink(p, size)
    r = max(1, round(radius * f))
    k = (2 * r + 1, 2 * r + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    # Channels as separate planes (cv2.split): numpy on interleaved channel views is several
    # times slower here than on planes.
    ch = list(cv2.split(g_lo))
    m_i = [mean(c) for c in ch]
    m_p = mean(p_lo)
    cov = [mean(c * p_lo) - m * m_p for c, m in zip(ch, m_i, strict=True)]
    var = {(i, j): mean(ch[i] * ch[j]) - m_i[i] * m_i[j] for i in range(3) for j in range(i, 3)}
    s00, s01, s02 = var[0, 0] + eps, var[0, 1], var[0, 2]
    s11, s12, s22 = var[1, 1] + eps, var[1, 2], var[2, 2] + eps
    # Inverse of the symmetric 3 x 3 covariance per pixel, by cofactors.
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02)
    v0, v1, v2 = cov
    a = [(c00 * v0 + c01 * v1 + c02 * v2) * inv_det, (c01 * v0 + c11 * v1 + c12 * v2) * inv_det,
         (c02 * v0 + c12 * v1 + c22 * v2) * inv_det]
    b = m_p - a[0] * m_i[0] - a[1] * m_i[1] - a[2] * m_i[2]
    coef = [cv2.resize(mean(x), (w, h), interpolation=cv2.INTER_LINEAR) for x in (*a, b)]
    out = coef[3]
    for c, ac in zip(cv2.split(g), coef[:3], strict=True):
        out += ac * c.astype(np.float32)
    return out
