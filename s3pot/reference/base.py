"""Reference generator interface: the same face, same geometry, occluders replaced by face."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from s3pot.registry import Registry


@dataclass
class Reference:
    """Output of a generator, in the aligned frame of its input."""

    image: np.ndarray  # (S, S, 3) uint8 RGB, occlusion-free face
    confidence: np.ndarray  # (S, S) float32 in [0,1]: 1 = input agrees with the face model


class ReferenceGenerator(ABC):
    """Regenerates the face under a parsing; must never reproduce an occluder."""

    @abstractmethod
    def generate(
        self, aligned: np.ndarray, landmarks_aligned: np.ndarray, parsing: np.ndarray
    ) -> Reference:
        """``aligned`` (S,S,3) uint8; ``landmarks_aligned`` (478,2); ``parsing`` (S,S) uint8."""

    def restore(
        self, aligned: np.ndarray, landmarks_aligned: np.ndarray, parsing: np.ndarray,
        occluded: np.ndarray,
    ) -> Reference:
        """The reference once the segmenter has said what covers the face: ``occluded``
        (S,S) in [0,1], aligned frame. It is the de-occluded photo users save
        (``s3pot segment --save-reference``). A backend that can use the mask (the PCA
        fit leaves those pixels out and replaces them) overrides this; the default is the
        plain :meth:`generate`, which already regenerates the whole face."""
        return self.generate(aligned, landmarks_aligned, parsing)

    def refit(
        self, aligned: np.ndarray, landmarks_aligned: np.ndarray, parsing: np.ndarray,
        exclude: np.ndarray,
    ) -> Reference | None:
        """The reference fitted to the face without the pixels of ``exclude`` (S,S) in
        [0,1], and its confidence measured everywhere (unlike :meth:`restore`, the excluded
        pixels are judged, not replaced): a second opinion when the segmenter found the
        first fit explained an occluder and rejected the face. None if the backend cannot
        leave pixels out of its fit (then the first segmentation stands)."""
        return None


# Margin added around a segmentation before a reference is restored under it, as a fraction
# of the aligned crop's side (4 px at 256): mask borders are never exact and the occluder's
# rim would stay as a halo. Dev bench restoration under the offline segmenter's masks
# (benchmarks/reference_quality.py --restore segmenter): no margin 0.459, 2 px 0.455, 4 px
# 0.450, 8 px 0.447 (visible-face error 5.2 -> 5.4 -> 5.6 -> 6.1 grey levels).
RESTORE_MARGIN = 0.016


def restoration_mask(occlusion: np.ndarray, margin: float = RESTORE_MARGIN) -> np.ndarray:
    """The mask a reference is restored under: ``occlusion`` (S, S) grown by ``margin``
    of S, as float32 in {0, 1}."""
    import cv2

    m = np.asarray(occlusion).astype(np.uint8)
    r = int(round(margin * m.shape[0]))
    if r > 0 and m.any():
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return m.astype(np.float32)


GENERATORS: Registry[ReferenceGenerator] = Registry(
    "generator",
    {
        "pca": "s3pot.reference.pca:build_pca_generator",
        "e4s": "s3pot.reference.e4s:build_e4s_generator",
    },
)

DEFAULT_GENERATOR = "pca"


def build_generator(name: str = DEFAULT_GENERATOR, **kwargs) -> ReferenceGenerator:
    """Generator by name: ``pca`` (default, shipped model) or ``e4s`` (checkpoint=PATH)."""
    return GENERATORS.build(name, **kwargs)
