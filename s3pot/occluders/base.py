"""Occluder hints: where a detector of a known occluder kind sees one over a face.

The reference contrast finds what a face model cannot explain; an occluder that looks like
skin (a hand) is exactly what it explains best. Hands are also the occluder users meet
most, and mediapipe ships a hand detector beside its face models. So the pipeline may run
occluder detectors on the photo and hand every face an *occluder hint*: a soft map in its
aligned frame, 1 where a detected occluder covers it. The segmenters take the hint as
occlusion prompts (no face prompt inside it) and the offline decoder as evidence; the
mask's edges still come from the photo. A detector never sees an occlusion mask.

Backends by name (``build_occluder_detector("hands")``); ``"none"`` runs none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s3pot.registry import Registry
from s3pot.types import FaceResult

# Crops for a second look around a face (OccluderDetector.detect_near): NEAR_CONTEXT x the
# face box's side, for faces whose crop spans under NEAR_SHARE of the photo's longer side
# (at least 2.5x the whole photo's resolution), at most NEAR_MAX_FACES faces a photo (the
# largest). Measured: hand cut-outs (those of benchmarks/hand_occluders.py) pasted over the
# faces of 7 real photos (19 each, 0.7 x the face wide): the hand graph on the whole photo
# saw 13 of 133, on crops around the faces 39; on the two photos whose faces pass the
# share (biden.jpg, obama-1080p.jpg, faces of 240-290 px) 0 of 38 -> 10 of 38. At share
# 0.6 the medium photos (johnsnow_test1.jpg 5 -> 17 of 19) were also looked at again, for
# +10 % on the real photos' median time (benchmarks/photo_speed.py, 6.47 / 6.84 against
# 5.85 / 6.02, alternating); at 0.4 the time is unchanged (5.60 / 5.71 against 5.84 / 5.67).
# Photos whose longer side exceeds NEAR_PHOTO_SIDE get no whole-photo pass beside the face
# mesh, only the looks around their faces once the faces are known (the whole photo when no
# face is small), so that a large photo costs one pass a small face, not one more.
NEAR_CONTEXT = 3.0
NEAR_PHOTO_SIDE = 1280
NEAR_SHARE = 0.4
NEAR_MAX_FACES = 4


@dataclass
class Occluder:
    """One detected occluder, in photo pixels."""

    kind: str  # "hand", ...
    points: np.ndarray  # (K, 2) float keypoints of the detector (photo pixels)
    score: float  # detector confidence in [0, 1]


class OccluderDetector(ABC):
    """Finds occluders of one kind in a photo and draws them over a face."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Occluder]:
        """Occluders in ``image`` (H, W, 3 uint8 RGB)."""

    @abstractmethod
    def draw(self, occluder: Occluder, face: FaceResult) -> np.ndarray | None:
        """Soft map (S, S) float32 in [0, 1] of ``occluder`` in ``face``'s aligned frame, or
        None when it does not occlude that face."""

    def detect_near(self, image: np.ndarray, box: np.ndarray,
                    context: float = NEAR_CONTEXT) -> list[Occluder]:
        """Occluders in the square of ``context`` x the side of ``box`` (x0, y0, x1, y1,
        photo pixels) around its centre, in photo pixels. A detector with a small fixed
        input (mediapipe's palm detector sees 192 px) finds a hand over a face in a large
        photo only on such a crop: there it is a tenth of the input, not a hundredth."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        half = 0.5 * context * box_side(box)
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        c0, r0 = max(int(round(cx - half)), 0), max(int(round(cy - half)), 0)
        c1, r1 = min(int(round(cx + half)), w), min(int(round(cy + half)), h)
        if c1 - c0 < 2 or r1 - r0 < 2:
            return []
        found = self.detect(np.ascontiguousarray(image[r0:r1, c0:c1]))
        return [Occluder(o.kind, o.points + (c0, r0), o.score) for o in found]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""


def box_side(box: np.ndarray) -> float:
    """The longer side of a box (x0, y0, x1, y1)."""
    return max(float(box[2] - box[0]), float(box[3] - box[1]))


def needs_near_pass(box: np.ndarray, shape: tuple[int, ...], context: float = NEAR_CONTEXT,
                    share: float = NEAR_SHARE) -> bool:
    """Whether a face of ``box`` is small enough in a photo of ``shape`` that the occluder
    detector should look again on a crop around it (:meth:`OccluderDetector.detect_near`):
    its crop would span under ``share`` of the photo's longer side."""
    return context * box_side(box) < share * max(shape[:2])


OCCLUDERS: Registry[OccluderDetector] = Registry(
    "occluder detector",
    {"hands": "s3pot.occluders.hands:MediapipeHands"},
)
NONE = "none"


def build_occluder_detector(name: str, **kwargs) -> OccluderDetector | None:
    """Detector by name: ``hands`` (mediapipe's bundled hand model) or ``none`` (None)."""
    if name == NONE:
        return None
    return OCCLUDERS.build(name, **kwargs)


def occluder_hint(detector: OccluderDetector, occluders: Sequence[Occluder],
                  face: FaceResult) -> np.ndarray | None:
    """Union (max) of the occluders drawn over ``face``; None when none covers it."""
    hint = None
    for occ in occluders:
        m = detector.draw(occ, face)
        if m is not None and m.any():
            hint = m if hint is None else np.maximum(hint, m)
    return hint
