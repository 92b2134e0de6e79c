"""RGBA occluder cut-outs and where they go on a face.

Placement follows the object's name (how RealOcc-style generators place natural
occluders): glasses on the eye line scaled to the face width, hats with the brim over the
forehead, masks and scarves over the lower face; any other cut-out lands anywhere on the
face at a random size and angle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from s3pot.eval.dataset import DatasetError
from s3pot.eval.synth.geometry import FaceFrame

_KINDS = (("glasses", re.compile(r"glass|goggle|spectacle")),
          ("hat", re.compile(r"hat|cap|helmet|hood")),
          ("mask", re.compile(r"mask|scarf|respirator")))


@dataclass
class Cutout:
    """An occluder image with alpha, cropped to its opaque bounding box."""

    name: str  # file stem; the group name of composites made with it
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1]
    alpha: np.ndarray  # (h, w) float32 in [0, 1]
    kind: str  # glasses | hat | mask | generic (from the name)


def kind_of(name: str) -> str:
    """Placement kind from a cut-out's file name."""
    low = name.lower()
    return next((k for k, pat in _KINDS if pat.search(low)), "generic")


def load_cutout(path: Path, max_side: int = 1024) -> Cutout:
    """Read an RGBA PNG/WebP; an image without transparency is an error naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            if "A" not in img.getbands() and "transparency" not in img.info:
                raise DatasetError(path, "occluder cut-out has no alpha channel")
            rgba = np.asarray(img.convert("RGBA"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"cannot read occluder ({exc})") from None
    ys, xs = np.nonzero(rgba[..., 3] > 8)
    if len(xs) == 0:
        raise DatasetError(path, "occluder cut-out is fully transparent")
    rgba = rgba[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    scale = max_side / max(rgba.shape[:2])
    if scale < 1:  # keep memory small; placements downscale further anyway
        rgba = cv2.resize(rgba, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rgba = rgba.astype(np.float32) / 255.0
    return Cutout(path.stem, rgba[..., :3].copy(), rgba[..., 3].copy(), kind_of(path.stem))


def load_cutouts(folder: Path) -> list[Cutout]:
    """Every image with alpha in ``folder`` (sorted, so runs are reproducible)."""
    if not folder.is_dir():
        raise DatasetError(folder, "occluder folder not found")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in (".png", ".webp", ".tif", ".tiff") and p.is_file())
    return [load_cutout(p) for p in files]


def _target(c: Cutout, f: FaceFrame, rng: np.random.Generator) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(width in px, extra rotation in degrees, anchor in cut-out px, anchor in photo px)."""
    h, w = c.alpha.shape
    if c.kind == "glasses":
        width = f.width * rng.uniform(0.95, 1.15)
        anchor = np.array([w / 2, h / 2])
        where = f.eye_centre + f.up * rng.uniform(-0.05, 0.08) * f.brow_to_nose
        return width, rng.uniform(-3, 3), anchor, where
    if c.kind == "hat":
        width = f.width * rng.uniform(1.4, 1.9)
        anchor = np.array([w / 2, h * 0.97])  # brim line near the bottom of the cut-out
        lift = rng.uniform(-0.15, 0.35) * f.brow_to_nose
        where = f.brow_centre + f.up * lift + f.right * rng.uniform(-0.08, 0.08) * f.width
        return width, rng.uniform(-8, 8), anchor, where
    if c.kind == "mask":
        width = f.width * rng.uniform(1.0, 1.2)
        anchor = np.array([w / 2, h / 2])
        where = 0.5 * (f.nose_tip + f.chin)
        return width, rng.uniform(-4, 4), anchor, where
    width = f.width * rng.uniform(0.5, 1.2) * w / max(w, h)
    anchor = np.array([w / 2, h / 2])
    where = (f.eye_centre + f.right * rng.uniform(-0.3, 0.3) * f.width
             - f.up * rng.uniform(-0.6, 1.6) * f.brow_to_nose)
    return width, rng.uniform(-60, 60), anchor, where


def place_cutout(c: Cutout, f: FaceFrame, shape: tuple[int, int],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Warp the cut-out into a photo of ``shape``: (rgb (H,W,3), alpha (H,W)) float32."""
    width, spin, anchor, where = _target(c, f, rng)
    s = max(width / c.alpha.shape[1], 1e-3)
    if rng.random() < 0.5 and c.kind != "hat":
        rgb, alpha, anchor = c.rgb[:, ::-1], c.alpha[:, ::-1], np.array([c.alpha.shape[1] - anchor[0], anchor[1]])
    else:
        rgb, alpha = c.rgb, c.alpha
    # Area-downscale first (warpAffine aliases when shrinking), then rotate + place.
    small = max(1, round(alpha.shape[1] * s)), max(1, round(alpha.shape[0] * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    pre = cv2.resize(np.dstack([rgb * alpha[..., None], alpha]), small, interpolation=interp)
    sx, sy = small[0] / alpha.shape[1], small[1] / alpha.shape[0]
    a = anchor * [sx, sy]
    m = cv2.getRotationMatrix2D((float(a[0]), float(a[1])), f.angle_deg + spin, 1.0)
    m[:, 2] += where - a
    h, w = shape
    warped = cv2.warpAffine(pre, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    out_alpha = np.clip(warped[..., 3], 0, 1)
    out_rgb = warped[..., :3] / np.maximum(out_alpha, 1e-4)[..., None]
    return np.clip(out_rgb, 0, 1).astype(np.float32), out_alpha.astype(np.float32)
