"""Landmark parsing: the 12 classes drawn from the 478-point mesh.

Landmarks say where face parts *are* even when something covers them: a hand over the
mouth does not move the predicted lips. That is the structural guidance the method needs
from its parser, and it needs no weights. Classes a mesh cannot see (hair, ears,
eyeglasses, earrings) stay empty.

The skin -- and with it the face region M -- is the face outline of the 68-point
convention (jaw line closed over the brows lifted most of the way to a typical hairline),
with the 68 points predicted from the mesh (:mod:`s3pot.parsing.outline`): the region
that occlusion ground truth is drawn on. ``outline="mesh"`` draws it from the mesh's own
oval instead: its upper brow arc lifted along the face's up direction by
``H * (1 - 0.45 t^2)`` (t in [-1, 1] across the brows), ``H = FOREHEAD_RATIO * |brows -
nose base|``, over the oval's jaw arc pushed out by ``JAW_MARGIN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from s3pot.faces.topology import BROW_UPPER, NOSE_BASE, NOSE_POINTS, parts
from s3pot.parsing.base import CLASS_ID, FaceParser

if TYPE_CHECKING:
    from s3pot.parsing.outline import OutlineModel

# The mesh-oval outline (``outline="mesh"``), calibrated against 68-point face outlines
# (jaw points 0-16 closed over brows lifted 70 % of the way to the hairline) on the dev
# faces: the mesh's upper brow edge sits above the 68-point brow line, and its oval runs
# inside the 68-point jaw.
FOREHEAD_RATIO = 0.8
JAW_MARGIN = 0.05
_SHIFT = 4  # sub-pixel polygon drawing (cv2 fixed point)


def eye_axes(eye_left: np.ndarray, eye_right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (right, up) of a face from the points of its image-left and -right eyes."""
    right = np.asarray(eye_right, np.float64).mean(0) - np.asarray(eye_left, np.float64).mean(0)
    right /= np.linalg.norm(right) + 1e-9
    up = np.array([right[1], -right[0]])  # image y grows downwards
    return right, up


def face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (right, up) of the face from the mesh's eye line."""
    p = parts()
    return eye_axes(lm[p["eye_left"]], lm[p["eye_right"]])


def lift_brows(brows: np.ndarray, nose_base: np.ndarray, right: np.ndarray, up: np.ndarray,
               ratio: float) -> np.ndarray:
    """The brow points lifted along ``up`` by ``H * (1 - 0.45 t^2)``, t in [-1, 1] across
    the brows, ``H = ratio * |mean(brows) - nose_base|``: the forehead curve of both face
    outlines (the mesh's and the 68-point one), in the order ``brows`` come in."""
    h = ratio * np.linalg.norm(brows.mean(0) - nose_base)
    s = (brows - brows.mean(0)) @ right
    t = np.clip(s / (np.abs(s).max() + 1e-9), -1, 1)
    return brows + np.outer(h * (1 - 0.45 * t**2), up)


def forehead_curve(lm: np.ndarray, ratio: float = FOREHEAD_RATIO) -> np.ndarray:
    """Hairline curve above the brows, image-left to image-right."""
    right, up = face_axes(lm)
    return lift_brows(lm[list(BROW_UPPER)], lm[NOSE_BASE], right, up, ratio)


def face_outline(lm: np.ndarray, ratio: float = FOREHEAD_RATIO, jaw_margin: float = 0.0) -> np.ndarray:
    """Closed outline of the face: mesh jaw arc below the brows, then the forehead curve.

    ``jaw_margin`` pushes the jaw arc outwards from the nose base by that fraction of its
    distance: the mesh oval runs slightly inside the silhouette that 68-point annotations
    (and people) draw along the jaw.
    """
    right, up = face_axes(lm)
    oval = parts()["oval"]
    pts = lm[oval]
    brow_level = lm[list(BROW_UPPER)].mean(0) @ up
    below = (pts @ up) < brow_level
    # Rotate the loop so that it starts just after an above-brow vertex, then keep the
    # contiguous below-brow arc (it runs through the chin).
    start = int(np.argmax(~below))
    order = np.roll(np.arange(len(oval)), -start)
    arc = [i for i in order if below[i]]
    jaw = pts[arc]
    if (jaw[0] - jaw[-1]) @ right > 0:  # make it run image-left -> image-right
        jaw = jaw[::-1]
    if jaw_margin:
        centre = lm[NOSE_BASE]
        jaw = centre + (jaw - centre) * (1.0 + jaw_margin)
    return np.vstack([jaw, forehead_curve(lm, ratio)[::-1]])


OUTLINES = ("68", "mesh")


def check_outline(outline: str) -> str:
    """``outline`` if it names a face outline, else a ValueError saying which exist."""
    if outline not in OUTLINES:
        raise ValueError(f"unknown face outline {outline!r} (use {' or '.join(OUTLINES)})")
    return outline


def face_polygon(lm: np.ndarray, outline: str = "68", forehead_ratio: float | None = None,
                 jaw_margin: float = JAW_MARGIN, model: OutlineModel | None = None) -> np.ndarray:
    """Closed outline of the face region (image-left jaw end first), in ``lm``'s pixels.

    ``outline``: ``"68"`` (default) the 68-point convention predicted from the mesh (by
    ``model``, default the shipped one), ``"mesh"`` the mesh's oval. ``forehead_ratio``: how
    far the brows are lifted, in brows-to-nose-base distances (default: the outline's own,
    0.7 and 0.8).
    """
    if outline == "68":
        from s3pot.parsing.outline import FOREHEAD_LIFT, default_model, outline_from_68

        lift = FOREHEAD_LIFT if forehead_ratio is None else forehead_ratio
        return outline_from_68((model or default_model()).predict68(lm), lift)
    check_outline(outline)
    ratio = FOREHEAD_RATIO if forehead_ratio is None else forehead_ratio
    return face_outline(lm, ratio, jaw_margin)


def _fill(canvas: np.ndarray, poly: np.ndarray, value: int) -> None:
    pts = np.round(np.asarray(poly) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def parse_landmarks(
    lm: np.ndarray,
    size: int | tuple[int, int],
    forehead_ratio: float | None = None,
    jaw_margin: float = JAW_MARGIN,
    outline: str = "68",
    model: OutlineModel | None = None,
) -> np.ndarray:
    """12-class parsing of an image of ``size`` from mesh landmarks in its pixels
    (``outline``, ``forehead_ratio``, ``jaw_margin``, ``model``: see :func:`face_polygon`)."""
    h, w = (size, size) if isinstance(size, int) else size
    lm = np.asarray(lm, np.float64)[:, :2]
    p = parts()
    out = np.zeros((h, w), np.uint8)
    right, up = face_axes(lm)
    # Neck: from the jaw ends straight down (below the face), drawn first, then covered.
    jaw = face_polygon(lm, outline, forehead_ratio, jaw_margin, model)
    left_end, right_end = jaw[0], jaw[np.argmax(jaw @ right)]
    chin = lm[152]
    drop = 1.2 * np.linalg.norm(chin - lm[NOSE_BASE])
    neck = np.array([
        left_end * 0.3 + chin * 0.7 - 0.2 * drop * up,
        right_end * 0.3 + chin * 0.7 - 0.2 * drop * up,
        right_end * 0.3 + chin * 0.7 - (drop + 0.2 * drop) * up,
        left_end * 0.3 + chin * 0.7 - (drop + 0.2 * drop) * up,
    ])
    _fill(out, neck, CLASS_ID["neck"])
    _fill(out, jaw, CLASS_ID["skin"])
    _fill(out, cv2.convexHull(lm[list(NOSE_POINTS)].astype(np.float32))[:, 0], CLASS_ID["nose"])
    _fill(out, lm[p["brow_left"]], CLASS_ID["eyebrows"])
    _fill(out, lm[p["brow_right"]], CLASS_ID["eyebrows"])
    _fill(out, lm[p["eye_left"]], CLASS_ID["eyes"])
    _fill(out, lm[p["eye_right"]], CLASS_ID["eyes"])
    _fill(out, lm[p["lips_outer"]], CLASS_ID["lip"])
    _fill(out, lm[p["lips_inner"]], CLASS_ID["mouth"])
    return out


class LandmarkParser(FaceParser):
    """Default parser: polygons of the face mesh (no weights, occlusion-proof geometry)."""

    def __init__(self, outline: str = "68", forehead_ratio: float | None = None,
                 jaw_margin: float = JAW_MARGIN, outline_model: str | None = None) -> None:
        """``outline_model``: a 68-point outline model fitted on your own annotated photos
        (``python -m s3pot.parsing.outline``; default: the shipped one), loaded here, so a
        missing or broken file fails before any photo."""
        self.outline = check_outline(outline)
        self.forehead_ratio = forehead_ratio
        self.jaw_margin = jaw_margin
        self.model = None
        if outline_model is not None:
            from s3pot.parsing.outline import OutlineModel

            self.model = OutlineModel.load(outline_model)

    def parse(self, aligned: np.ndarray, landmarks_aligned: np.ndarray) -> np.ndarray:
        return parse_landmarks(landmarks_aligned, aligned.shape[:2], self.forehead_ratio,
                               self.jaw_margin, self.outline, self.model)
