"""Procedural occluders: random polygons, ellipses and long bars, textured and edged.

Textures: smooth colour noise, a crop of another photo, or a shaded flat colour. Edges:
hard (anti-aliased) or soft (Gaussian). Shapes are scaled to a target coverage of the face
region, so the difficulty spread is controlled, not left to chance.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from s3pot.eval.synth.geometry import FaceFrame

SHAPES = ("proc_poly", "proc_ellipse", "proc_bar")
TEXTURES = ("noise", "crop", "flat")
_SHIFT = 4


def _outline(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-size outline (N, 2) centred on 0 for a shape kind, random proportions."""
    if kind == "proc_poly":
        n = int(rng.integers(3, 11))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.4, 1.0, n)
        return np.stack([r * np.cos(ang), r * np.sin(ang)], 1)
    if kind == "proc_ellipse":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        ratio = rng.uniform(0.35, 1.0)
        return np.stack([np.cos(t), ratio * np.sin(t)], 1)
    if kind == "proc_bar":
        half_len = rng.uniform(2.0, 3.0)  # long: crosses the whole face
        return np.array([[-half_len, -0.25], [half_len, -0.25], [half_len, 0.25], [-half_len, 0.25]])
    raise ValueError(f"unknown procedural shape {kind!r} (choose from: {', '.join(SHAPES)})")


def _raster(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased fill of a polygon -> float32 alpha in [0, 1]."""
    canvas = np.zeros(shape, np.uint8)
    pts = np.round(poly * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    return canvas.astype(np.float32) / 255.0


def shape_alpha(kind: str, f: FaceFrame, face: np.ndarray, coverage: float,
                rng: np.random.Generator, soft: bool) -> np.ndarray:
    """Alpha of one procedural shape covering about ``coverage`` of the face region."""
    unit = _outline(kind, rng)
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    unit = unit @ rot.T
    centre = (f.eye_centre + f.right * rng.uniform(-0.3, 0.3) * f.width
              - f.up * rng.uniform(-0.5, 1.5) * f.brow_to_nose)
    sigma = rng.uniform(0.01, 0.04) * f.width if soft else 0.0
    face_px = max(int(face.sum()), 1)

    def render(scale: float) -> np.ndarray:
        a = _raster(centre + unit * scale, face.shape)
        if sigma > 0:
            a = cv2.GaussianBlur(a, (0, 0), sigma)
        return a

    def cover(a: np.ndarray) -> float:
        return float(np.count_nonzero((a > 0.5) & face)) / face_px

    lo, hi = 0.02 * f.width, 1.5 * f.width
    for _ in range(12):  # coverage grows with scale: bisect on it
        mid = 0.5 * (lo + hi)
        if cover(render(mid)) < coverage:
            lo = mid
        else:
            hi = mid
    return render(hi)


def texture(kind: str, shape: tuple[int, int], rng: np.random.Generator,
            source: Callable[[np.random.Generator], np.ndarray] | None = None) -> tuple[np.ndarray, str]:
    """A (H, W, 3) float32 texture in [0, 1]; falls back to noise when no crop source."""
    h, w = shape
    if kind == "crop" and source is not None:
        img = source(rng).astype(np.float32) / 255.0
        ih, iw = img.shape[:2]
        side = int(rng.integers(max(8, min(ih, iw) // 4), min(ih, iw) + 1))
        y, x = int(rng.integers(0, ih - side + 1)), int(rng.integers(0, iw - side + 1))
        crop = img[y:y + side, x:x + side]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR), "crop"
    if kind == "flat":
        colour = rng.uniform(0.05, 0.95, 3).astype(np.float32)
        ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(0.0, 0.15)
        return np.clip(np.broadcast_to(colour, (h, w, 3)) + ramp, 0, 1), "flat"
    cells = int(rng.integers(3, 12))
    low = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
    smooth = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.03, (h, w, 3)).astype(np.float32)
    return np.clip(smooth + fine, 0, 1), "noise"
