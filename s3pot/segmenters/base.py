"""Segmenter interface shared by the offline default and the SAM backbone.

A segmenter sees one face in its aligned frame (input, reference, parsing) and returns the
visible-face probability. Occlusion is always derived the same way: M and not visible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from s3pot.parsing.base import face_region
from s3pot.registry import Registry
from s3pot.types import FaceResult

# ``SegmentationOutput.extras[INVERTED]``: the segmenter found face and occluder the wrong
# way round (the reference explained the occluder and rejected the face) and turned its
# mask round; the pipeline may then refit the reference without that mask and segment
# once more, with ``FaceResult.extras[REFITTED]`` set so that the check is not repeated.
INVERTED = "inverted"
REFITTED = "refitted"
# ``SegmentationOutput.extras[STAGE_MAPS]``, only when asked for (the offline segmenter's
# ``keep_maps``): each stage's evidence at the decoding resolution, name -> (W, W) float32
# array, in the order the score is built, so a failure can be traced to the stage where
# the evidence died (benchmarks/evidence_stages.py).
STAGE_MAPS = "stage_maps"


@dataclass
class SegmentationOutput:
    """Per-face masks in the aligned frame. Polarity: visible = face seen; occlusion = covered."""

    visible_prob: np.ndarray  # (S, S) float32 in [0,1], probability the face pixel is visible
    face_region: np.ndarray  # (S, S) bool, M
    extras: dict = field(default_factory=dict)  # prompts, logits, timings...

    @property
    def visible(self) -> np.ndarray:
        return self.face_region & (self.visible_prob >= 0.5)

    @property
    def occlusion(self) -> np.ndarray:
        return self.face_region & (self.visible_prob < 0.5)

    @property
    def occlusion_prob(self) -> np.ndarray:
        return np.where(self.face_region, 1.0 - self.visible_prob, 0.0).astype(np.float32)


def output_from_visible(visible_prob: np.ndarray, parsing: np.ndarray, **extras) -> SegmentationOutput:
    """Wrap a visible-face probability map with the face region of ``parsing``."""
    return SegmentationOutput(
        visible_prob=np.asarray(visible_prob, np.float32),
        face_region=face_region(parsing),
        extras=dict(extras),
    )


class Segmenter(ABC):
    """Turns a face with its reference into visible / occluded masks."""

    @abstractmethod
    def segment(self, face: FaceResult) -> SegmentationOutput:
        """``face`` has ``aligned``, ``parsing``, ``reference`` and ``confidence`` filled."""


SEGMENTERS: Registry[Segmenter] = Registry(
    "backbone",
    {
        "offline": "s3pot.segmenters.offline:build_offline_segmenter",
        "sam": "s3pot.segmenters.sam:build_sam_segmenter",
    },
)


def build_segmenter(name: str = "offline", **kwargs) -> Segmenter:
    """Segmenter by name: ``offline`` (default, no weights) or ``sam`` (sam_checkpoint=PATH)."""
    return SEGMENTERS.build(name, **kwargs)
