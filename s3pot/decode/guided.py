"""Edge-aware decoding: a soft prompt field refined by a guided filter on the photo.

Prompts live on a token grid; masks must follow the image (a hat brim, fingers, the rim of
sunglasses). The guided filter (He et al.) fits, in every window, a local linear model of the
soft mask on the image colours, so the output's edges move onto the image's edges. It is
O(pixels), a few milliseconds at 256 px, and available in opencv-contrib (ximgproc).
"""

from __future__ import annotations

import cv2
import numpy as np


def guided_refine(guide: np.ndarray, soft: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Refine ``soft`` (H, W float in [0,1]) along the edges of ``guide`` (H, W, 3 uint8)."""
    src = soft.astype(np.float32)
    g = guide.astype(np.float32) / 255.0
    try:
        out = cv2.ximgproc.guidedFilter(guide=g, src=src, radius=int(radius), eps=float(eps))
    except AttributeError:  # opencv without contrib: plain colour-guided box filter fallback
        out = _guided_filter_gray(cv2.cvtColor(g, cv2.COLOR_RGB2GRAY), src, int(radius), float(eps))
    return np.clip(out, 0.0, 1.0)


def _guided_filter_gray(i: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    k = (2 * r + 1, 2 * r + 1)
    mean = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mi, mp = mean(i), mean(p)
    a = (mean(i * p) - mi * mp) / (mean(i * i) - mi * mi + eps)
    b = mp - a * mi
    return mean(a) * i + mean(b)
