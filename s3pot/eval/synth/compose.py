"""One synthetic occlusion: place an occluder, match its lighting, composite, label.

Ground truth = (alpha > 0.5) AND F, with F the face outline of the 68-point convention
(jaw line closed over the brows lifted about 70% of the way to the hairline), predicted
from the mesh of the clean face: the face region definition the parser uses and the dev
benchmark was built with (there from annotated 68 points).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from s3pot.eval.synth.cutouts import Cutout, place_cutout
from s3pot.eval.synth.geometry import face_frame
from s3pot.eval.synth.procedural import SHAPES, TEXTURES, shape_alpha, texture
from s3pot.parsing.landmarks import face_polygon

_SHIFT = 4
CLEAN = "clean"


@dataclass
class SynthResult:
    """A composite, its occluder alpha, the face region and the ground truth."""

    image: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray  # (H, W) float32 occluder alpha in [0, 1]
    face: np.ndarray  # (H, W) bool face region F
    mask: np.ndarray  # (H, W) bool GT = alpha > 0.5 & face
    group: str
    details: str = ""

    @property
    def coverage(self) -> float:
        return float(self.mask.sum()) / max(int(self.face.sum()), 1)


def face_region_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Face region F of one face (bool, ``shape``) from its 478 mesh landmarks."""
    canvas = np.zeros(shape, np.uint8)
    pts = np.round(face_polygon(np.asarray(landmarks, np.float64)[:, :2]) * (1 << _SHIFT))
    cv2.fillPoly(canvas, [pts.astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas > 0


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def match_lighting(occ: np.ndarray, alpha: np.ndarray, image: np.ndarray,
                   face: np.ndarray, strength: float = 0.5) -> np.ndarray:
    """Bring the occluder towards the face's lighting: brightness, colour cast, gradient.

    Brightness moves ``strength`` of the way (in log space) to the face's; the colour
    cast of the face light is applied mildly; the face's left-right shading ramp is applied
    to the occluder so a side-lit face gets a side-lit occluder.
    """
    visible = face & (alpha < 0.5)
    inside = alpha > 0.5
    if visible.sum() < 16 or inside.sum() < 4:
        return occ
    img = image.astype(np.float32) / 255.0
    lf = float(_luma(img)[visible].mean()) + 1e-3
    lo = float(_luma(occ)[inside].mean()) + 1e-3
    gain = float(np.clip((lf / lo) ** strength, 0.6, 1.6))
    cast = img[visible].mean(0) / lf
    cast = np.clip(cast / cast.mean(), 0.8, 1.25) ** 0.3
    ys, xs = np.nonzero(visible)
    lum = _luma(img)[ys, xs]
    slope = np.polyfit(xs.astype(np.float64), lum, 1)[0] if np.ptp(xs) > 4 else 0.0
    xc = xs.mean()
    ramp = 1.0 + np.clip(slope * (np.arange(image.shape[1]) - xc) / lf, -0.4, 0.4)
    out = occ * gain * cast[None, None, :] * ramp[None, :, None].astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32)


def composite(image: np.ndarray, occ: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Alpha-blend an occluder (float RGB in [0,1]) over a uint8 photo."""
    img = image.astype(np.float32) / 255.0
    a = alpha[..., None]
    return np.clip(np.rint((a * occ + (1 - a) * img) * 255), 0, 255).astype(np.uint8)


def kinds(cutouts: Sequence[Cutout]) -> list[str]:
    """Every occluder kind available: each cut-out by name, then the procedural shapes."""
    return [c.name for c in cutouts] + list(SHAPES)


def synthesize(
    image: np.ndarray,
    landmarks: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    cutouts: Sequence[Cutout] = (),
    crop_source: Callable[[np.random.Generator], np.ndarray] | None = None,
    coverage_range: tuple[float, float] = (0.05, 0.6),
) -> SynthResult:
    """Occlude the face of ``landmarks`` in ``image`` with one occluder of ``kind``.

    ``kind`` is a cut-out name, one of the procedural shapes, or ``clean`` (no occluder).
    """
    h, w = image.shape[:2]
    face = face_region_mask(landmarks, (h, w))
    if kind == CLEAN:
        zero = np.zeros((h, w), np.float32)
        return SynthResult(image.copy(), zero, face, np.zeros((h, w), bool), CLEAN)
    f = face_frame(landmarks)
    by_name = {c.name: c for c in cutouts}
    if kind in by_name:
        occ, alpha = place_cutout(by_name[kind], f, (h, w), rng)
        details = f"placement={by_name[kind].kind}"
    elif kind in SHAPES:
        soft = bool(rng.random() < 0.5)
        target = float(rng.uniform(*coverage_range))
        alpha = shape_alpha(kind, f, face, target, rng, soft)
        occ, tex = texture(str(rng.choice(TEXTURES)), (h, w), rng, crop_source)
        details = f"texture={tex};edge={'soft' if soft else 'hard'}"
    else:
        raise ValueError(f"unknown occluder kind {kind!r} (choose from: "
                         f"{', '.join(kinds(cutouts) + [CLEAN])})")
    blur = rng.uniform(0.0, 0.8)  # photos are rarely as sharp as a cut-out
    if blur > 0.3:
        occ = cv2.GaussianBlur(occ, (0, 0), blur)
    occ = match_lighting(occ, alpha, image, face)
    mask = (alpha > 0.5) & face
    return SynthResult(composite(image, occ, alpha), alpha, face, mask, kind, details)
