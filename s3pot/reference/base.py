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
