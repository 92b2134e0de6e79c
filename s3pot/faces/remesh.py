"""A second look for landmarks, with the occlusion the segmenter found painted out.

Why: an occluder that crosses the face outline (a bar, a hat brim, a hand or a microphone
from the side) pulls the face mesh in. The landmark model takes the occluder's edge for the
face's edge, and the face region M shrinks away from it. On the dev bench, under bars, the
mesh's oval lay 6 % of the face size from the clean frame's oval (median; 0 % for clean
frames), and 19 % of the truth lay outside M, against 3.5 % with the clean frame's mesh.
The segmenter labels only pixels of M, so no segmenter could find that part.

What: when the first mask covers more than ``OUTLINE_TOUCH`` of M's outline, the face is
cropped from the photo (``CONTEXT`` face sides, ``SIDE`` px). The occluded pixels (grown a
little) are filled from their surroundings (OpenCV's Telea inpainting, at ``PAINT_SIDE`` px
for speed), and the mesh looks again. The pipeline keeps the new landmarks only where they
give a larger face region M (``S3potPredictor._remesh``). A painted-out occluder can no
longer hold the outline in, while a mesh that grew for no reason does not replace one that
fitted. Filling the occlusion with the reference instead kept the first mesh's geometry
(bars' M against F 0.816 -> 0.824 IoU, measured in an earlier session).

Measured on the dev bench (``python benchmarks/offline_quality.py``, against the same with
``--pipeline remesh=false``, 300 photos): occluder IoU over all photos 0.637 -> 0.647,
truth outside M 0.101 -> 0.085; bars 0.432 -> 0.459 (outside M 0.192 -> 0.163), hats
0.663 -> 0.692 (0.161 -> 0.112), occluders textured with face 0.398 -> 0.413; sunglasses
0.900 -> 0.891; clean-photo false positives 1.6 % both. It costs about 4-5 ms per photo on
the bench (44.9 -> 48.8-49.9 ms median): the mesh call on the crop (7-8 ms) and the painting
(3 ms) where the mask reaches the outline, the face's stages again where the new M wins.
"""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.faces.base import FaceDetector, face_from_landmarks
from s3pot.types import Face, FaceResult

# Look again when the occlusion covers more than this share of M's outline pixels. Dev
# bench (benchmarks/offline_quality.py, 300 photos), occluder IoU over all photos / time
# per photo as a ratio to the face mesh: without the remesh 0.637 / 5.3; at 0.05 it looked
# at 198 photos for 0.649; at 0.15 at 113 for 0.652 / 5.9; at 0.25 0.647 / 5.7; at 0.35
# 0.641 / 5.6. 0.25 keeps most of the gain under bars and hats (0.432 -> 0.459, 0.663 ->
# 0.695) and loses less on sunglasses, which touch the outline at both temples (0.900 ->
# 0.891, against 0.879 at 0.15), for less time.
OUTLINE_TOUCH = 0.25
CONTEXT = 2.2  # crop side, in sides of the landmarks' bounding box (as for detector boxes)
SIDE = 192  # the crop is resampled to this side for the mesh
# The inpainting runs at this side and its fill is upsampled into the crop: Telea's cost
# grows with the masked area, so at 256 px it took 12-22 ms per face, at 96 px 3 ms for
# the same occluder IoU (0.652 at 256 px, 0.653 at 96 px).
PAINT_SIDE = 96
GROW = 0.03  # the occlusion is grown by this fraction of sqrt(area of M) before painting


def outline_touch(occlusion: np.ndarray, region: np.ndarray) -> float:
    """Share of the outline of ``region`` (M, bool) that ``occlusion`` covers (0 without M)."""
    m = region.astype(np.uint8)
    outline = region & ~(cv2.erode(m, np.ones((3, 3), np.uint8)) > 0)
    n = int(np.count_nonzero(outline))
    return 0.0 if n == 0 else float(np.count_nonzero(outline & occlusion)) / n


def painted_crop(image: np.ndarray, fr: FaceResult) -> tuple[np.ndarray, float, np.ndarray]:
    """The face's crop of ``image`` with its occlusion filled from around it.

    Returns ``(crop, zoom, origin)``: crop pixels = zoom * (photo pixels - origin)."""
    lm = np.asarray(fr.face.landmarks, np.float64)[:, :2]
    (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
    half = max(x1 - x0, y1 - y0, 1.0) * CONTEXT / 2
    origin = np.array([(x0 + x1) / 2 - half, (y0 + y1) / 2 - half])
    zoom = SIDE / (2 * half)
    to_crop = np.array([[zoom, 0, -zoom * origin[0]], [0, zoom, -zoom * origin[1]]])
    crop = cv2.warpAffine(image, to_crop, (SIDE, SIDE), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    # aligned -> photo -> crop, for the masks
    inv = fr.transform.inverse
    m = to_crop[:, :2] @ inv
    m[:, 2] = to_crop[:, :2] @ inv[:, 2] + to_crop[:, 2]
    region = fr.visible | fr.occlusion
    occ = cv2.warpAffine(fr.occlusion.astype(np.float32), m, (SIDE, SIDE)) >= 0.5
    area = float(np.count_nonzero(region)) * (zoom / fr.transform.scale) ** 2
    k = max(3, int(GROW * np.sqrt(area)) | 1)
    occ = cv2.dilate(occ.astype(np.uint8), np.ones((k, k), np.uint8))
    small = cv2.resize(crop, (PAINT_SIDE, PAINT_SIDE), interpolation=cv2.INTER_AREA)
    small_occ = (cv2.resize(occ, (PAINT_SIDE, PAINT_SIDE), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    fill = cv2.resize(cv2.inpaint(small, small_occ, 3, cv2.INPAINT_TELEA), (SIDE, SIDE),
                      interpolation=cv2.INTER_LINEAR)
    return np.where(occ[..., None] > 0, fill, crop), zoom, origin


def remesh(detector: FaceDetector, image: np.ndarray, fr: FaceResult) -> Face | None:
    """New landmarks for ``fr``'s face, seen with its occlusion painted out; None when its
    mask does not reach the outline enough to have pulled it in, or the mesh finds no face
    there. The new face is the one whose centre lies nearest the old one's."""
    if fr.occlusion is None or fr.visible is None:
        return None
    if outline_touch(fr.occlusion, fr.visible | fr.occlusion) <= OUTLINE_TOUCH:
        return None
    crop, zoom, origin = painted_crop(image, fr)
    found = [np.asarray(p, np.float64)[:, :2] / zoom + origin for p in detector.landmarks_once(crop)]
    if not found:
        return None
    centre = np.asarray(fr.face.landmarks, np.float64)[:, :2].mean(0)
    best = min(found, key=lambda p: float(np.linalg.norm(p.mean(0) - centre)))
    return face_from_landmarks(best, image.shape)


__all__ = ["OUTLINE_TOUCH", "outline_touch", "painted_crop", "remesh"]
