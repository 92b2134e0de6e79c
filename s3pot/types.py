"""Result types shared by every stage.

Polarity, stated once: ``occlusion`` is True where something covers the face region M;
``visible`` is True where the face region is seen. Inside M they are complements; outside
M both are False. Per-face masks live in the aligned frame of that face; the photo-frame
masks are produced by :mod:`s3pot.paste`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from s3pot.faces.align import AlignTransform


@dataclass
class Face:
    """One detected face in photo coordinates."""

    box: np.ndarray  # (4,) float: x0, y0, x1, y1 in photo pixels
    landmarks: np.ndarray  # (N, 2) float photo pixels (N = 478 for the face mesh)
    score: float  # detector confidence in [0, 1]


@dataclass
class FaceResult:
    """Everything s3pot knows about one face. Later stages fill the optional fields."""

    face: Face
    transform: AlignTransform  # photo <-> aligned frame
    aligned: np.ndarray  # (S, S, 3) uint8, the face in the aligned frame
    landmarks_aligned: np.ndarray  # (N, 2) float, landmarks in the aligned frame
    parsing: np.ndarray  # (S, S) uint8, 12-class parsing (see s3pot.parsing.base.CLASSES)
    reference: np.ndarray | None = None  # (S, S, 3) uint8 occlusion-free face
    confidence: np.ndarray | None = None  # (S, S) float in [0,1]: 1 = input agrees with reference
    # (S, S) float in [0,1]: 1 where an occluder detector (s3pot.occluders) saw a known
    # occluder, e.g. a hand, over this face; None when none was seen or none was run.
    occluder_hint: np.ndarray | None = None
    visible: np.ndarray | None = None  # (S, S) bool, visible face (inside M)
    occlusion: np.ndarray | None = None  # (S, S) bool, occluded face (inside M)
    occlusion_prob: np.ndarray | None = None  # (S, S) float32 soft occlusion in [0, 1]
    extras: dict = field(default_factory=dict)  # backend-specific diagnostics (prompts, ...)

    @property
    def score(self) -> float:
        return self.face.score


@dataclass
class PhotoResult:
    """All faces of one photo, plus photo-frame masks (union over faces)."""

    image_shape: tuple[int, int]  # (H, W)
    faces: list[FaceResult]
    occlusion: np.ndarray | None = None  # (H, W) bool, union of per-face occlusion masks
    visible: np.ndarray | None = None  # (H, W) bool, union of per-face visible-face masks
    face_region: np.ndarray | None = None  # (H, W) bool, union of the face regions M
