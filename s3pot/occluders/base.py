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

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""


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
