"""Paste back: per-face results (aligned frames) -> one photo-frame answer.

Each face keeps its own frame through every stage; only here are masks mapped back, with
the exact inverse of the alignment. Overlapping faces are combined by union.

Edges at the photo's resolution: the decoders work on a small grid (the offline one at
128 px over the aligned crop, SAM at 256), so on a face of 400 px or more a mask edge
mapped back is a smooth curve a few photo pixels off the real edge. With the photo at hand,
each face's soft occlusion map is guided-filtered (He et al.) with the photo itself over
the face's box, at the photo's resolution (capped at ``REFINE_MAX_SIDE``), before the
threshold: the edge moves onto the photo's own edges, thin spurs and specks the photo does
not support fade. Measured with the offline decoder (``python benchmarks/offline_quality.py``
and ``s3pot eval`` on 60 held-out 512-px composites): dev bench occluder IoU 0.572 -> 0.579,
mean IoU 0.611 -> 0.619, clean false positives 1.7 % -> 1.6 %; held-out 0.495 -> 0.501,
mean IoU 0.504 -> 0.513.
"""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.decode.edges import guided_filter
from s3pot.parsing.base import face_region
from s3pot.resample import shrink
from s3pot.types import FaceResult

REFINE_RADIUS = 1 / 32  # guided-filter radius, as a share of the aligned crop's side in the photo
REFINE_EPS = 20.0  # guide variance (grey levels^2) below which the filter smooths across
REFINE_CUT = 0.45  # threshold of the refined map (0.5 unrefined); dev bench: 0.4 / 0.45 / 0.5
#                    give IoU 0.580 / 0.579 / 0.575 at clean FP 1.7 / 1.6 / 1.4 %
# Larger face boxes are refined on a shrunk copy (twice the aligned crop's 256 px; the
# decoder works at 128) and the refined soft map upsampled before the threshold. The
# filter's linear fit is made at no more than REFINE_FIT_SIDE and applied at the copy's
# resolution (s3pot.decode.edges.guided_filter). On 60 held-out composites enlarged 2.5x
# (1280-px photos, ~1000-px faces): refinement 92 -> 21 ms a face, occluder IoU 0.4249 ->
# 0.4251 (before: 1024 px, full fit); `benchmarks/offline_quality.py --scale 4` in
# README.md. Face boxes up to 256 px (most of the dev bench) are refined as before.
REFINE_MAX_SIDE = 512
REFINE_FIT_SIDE = 256
# Only pixels near an occlusion can end up above the cut: the filter is refined over the
# box of the pixels whose soft map reaches REFINE_NEAR, widened by the filter's reach (two
# box filters of the radius), and a face whose map stays below it everywhere (a clean face)
# is neither warped nor refined. Elsewhere the map is below the cut before and after.
REFINE_NEAR = 0.3
PHOTO_MASK = "occlusion_in_photo"  # FaceResult.extras key: (box, mask patch) in the photo


def occlusion_in_photo(face: FaceResult, shape: tuple[int, int],
                       image: np.ndarray | None = None) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
    """One face's occlusion in the photo frame, over the face's box: ``(box, bool patch)``
    (``(None, empty)`` when the face reaches no photo pixel). With ``image`` (the photo) the
    soft map is refined at the photo's resolution (see the module docstring)."""
    box, _, occ = face_patches(face, shape, image)
    return box, occ


# (box or None, face region patch, occlusion patch) of one face, see face_patches
FacePatches = tuple[tuple[int, int, int, int] | None, np.ndarray, np.ndarray]


def face_patches(face: FaceResult, shape: tuple[int, ...],
                 image: np.ndarray | None = None) -> FacePatches:
    """One face's share of :func:`photo_masks`: ``(box, face region patch, occlusion
    patch)`` in the photo frame (``box`` None when the face reaches no photo pixel). The
    pipeline computes it as soon as a face is segmented, while other work still runs.

    The face region and the soft occlusion map are warped together, as the two channels
    of one image: one pass over the face's box instead of two (a 575-px box: 1.9 -> 1.2 ms).
    """
    t, shape = face.transform, tuple(shape[:2])
    region = face_region(face.parsing).astype(np.float32)
    prob = face.occlusion_prob if face.occlusion_prob is not None else face.occlusion
    if prob is None or float(prob.max()) < REFINE_NEAR:
        box, patch = t.roi_warp(region, shape)
        return box, patch >= 0.5, np.zeros(patch.shape[:2], bool)
    box, both = t.roi_warp(np.dstack([region, prob.astype(np.float32)]), shape)
    if box is None:
        return None, np.zeros((0, 0), bool), np.zeros((0, 0), bool)
    region, soft = cv2.split(both)  # contiguous planes (strided views cost ~0.5 ms a 575-px box)
    region = region >= 0.5
    cut = 0.5
    if image is not None and face.occlusion_prob is not None:
        x0, y0, x1, y1 = box
        soft, cut = _refine(image[y0:y1, x0:x1], soft, t.size / t.scale), REFINE_CUT
    return box, region, (soft >= cut) & region


def _refine(guide: np.ndarray, soft: np.ndarray, crop_side: float) -> np.ndarray:
    """Guided filter of ``soft`` by the photo patch ``guide``, on a copy no larger than
    ``REFINE_MAX_SIDE``."""
    h, w = soft.shape
    f = min(1.0, REFINE_MAX_SIDE / max(h, w))
    g, s = guide, soft
    if f < 1.0:
        size = (max(1, round(w * f)), max(1, round(h * f)))
        g, s = shrink(guide, size), shrink(soft, size)
    radius = max(1, round(REFINE_RADIUS * crop_side * f))
    near = s >= REFINE_NEAR
    ys, xs = np.flatnonzero(near.any(1)), np.flatnonzero(near.any(0))  # the box, not every pixel
    out = np.array(s, np.float32, copy=True)
    if len(ys):
        reach = 2 * radius + 2
        y0, y1 = max(ys[0] - reach, 0), min(ys[-1] + 1 + reach, s.shape[0])
        x0, x1 = max(xs[0] - reach, 0), min(xs[-1] + 1 + reach, s.shape[1])
        out[y0:y1, x0:x1] = guided_filter(g[y0:y1, x0:x1], s[y0:y1, x0:x1], radius, REFINE_EPS,
                                          coarse_side=REFINE_FIT_SIDE)
    if f < 1.0:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def photo_masks(faces: list[FaceResult], shape: tuple[int, int],
                image: np.ndarray | None = None,
                patches: list[FacePatches | None] | None = None) -> dict[str, np.ndarray]:
    """Union over faces of occlusion, visible face and face region, in the photo frame.

    With ``image`` the occlusion edges are refined on the photo. Each face's photo-frame mask
    is kept in ``face.extras[PHOTO_MASK]``, so that per-face exports agree with the union.
    ``patches`` (one per face, None where not yet computed): :func:`face_patches` results
    already at hand, made from the same ``shape`` and ``image``.
    """
    h, w = shape[:2]
    occ = np.zeros((h, w), bool)
    segmented = np.zeros((h, w), bool)
    region = np.zeros((h, w), bool)
    if patches is None:
        patches = [None] * len(faces)
    elif len(patches) != len(faces):
        raise ValueError(f"{len(patches)} face patches for {len(faces)} faces")
    for f, known in zip(faces, patches, strict=True):
        box, face_patch, patch = known if known is not None else face_patches(f, (h, w), image)
        if box is not None:
            x0, y0, x1, y1 = box
            region[y0:y1, x0:x1] |= face_patch
            occ[y0:y1, x0:x1] |= patch
            if f.visible is not None:
                segmented[y0:y1, x0:x1] |= face_patch
        f.extras[PHOTO_MASK] = (box, patch)
    # Visible face: the face region of every segmented face, less what covers any face, so
    # that occlusion and visible face partition the region (no third warp per face, and no
    # pixel left in neither where the photo-resolution refinement moved an edge). Each
    # face's occlusion patch is already inside its own region, so ``occ`` lies inside M.
    return {"occlusion": occ, "visible": segmented & ~occ, "face_region": region}


def paste_references(image: np.ndarray, faces: list[FaceResult], feather: float = 0.02) -> np.ndarray:
    """The photo with each face's reference pasted back inside its face region.

    The paste is feathered over ``feather`` x crop size so no seam shows.
    """
    out = image.copy()
    h, w = image.shape[:2]
    for f in faces:
        if f.reference is None:
            continue
        m = face_region(f.parsing).astype(np.float32)
        k = max(1, int(round(feather * f.transform.size))) * 2 + 1
        m = cv2.GaussianBlur(m, (k, k), 0)
        # Only the face's box of the photo is touched: a float copy of a 40-Mpx photo per
        # face cost seconds.
        box, alpha = f.transform.roi_warp(m, (h, w))
        if box is None:
            continue
        _, ref = f.transform.roi_warp(f.reference, (h, w))
        x0, y0, x1, y1 = box
        a = np.clip(alpha, 0.0, 1.0)[..., None]
        here = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(np.rint(here * (1 - a) + ref.astype(np.float32) * a), 0, 255)
    return out
