"""The 12-class parsing of the method note, the face region M, and the parser interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from s3pot.registry import Registry

CLASSES = (
    "background",  # 0
    "lip",  # 1
    "eyebrows",  # 2
    "eyes",  # 3
    "hair",  # 4
    "nose",  # 5
    "skin",  # 6
    "ears",  # 7
    "neck",  # 8
    "mouth",  # 9
    "eyeglasses",  # 10
    "earrings",  # 11
)
CLASS_ID = {name: i for i, name in enumerate(CLASSES)}

# Face region M: where an occluder counts as occlusion (lip, eyebrows, eyes, nose, skin,
# mouth, eyeglasses). Hair, ears, neck and background are not face.
FACE_REGION_CLASSES = (1, 2, 3, 5, 6, 9, 10)

# Colours for visualisation (RGB), index = class id.
PALETTE = np.array(
    [
        [0, 0, 0], [255, 85, 127], [170, 85, 0], [0, 170, 255], [120, 70, 40],
        [255, 200, 0], [255, 170, 130], [170, 255, 0], [200, 120, 255], [255, 0, 60],
        [0, 255, 170], [255, 255, 255],
    ],
    dtype=np.uint8,
)


def face_region(parsing: np.ndarray) -> np.ndarray:
    """Face region M of a parsing (any shape of class ids) as a bool mask.

    Every later stage uses this one definition.
    """
    ids = np.asarray(parsing, dtype=np.uint8)
    if ids.ndim == 2 and ids.size:  # every stage calls this per face: OpenCV's table, ~5x numpy's
        return cv2.LUT(np.ascontiguousarray(ids), _FACE_LUT_U8).view(bool)
    return _FACE_LUT_U8.astype(bool)[ids]


_FACE_LUT_U8 = np.zeros(256, dtype=np.uint8)
_FACE_LUT_U8[list(FACE_REGION_CLASSES)] = 1


def colorize(parsing: np.ndarray) -> np.ndarray:
    """Parsing -> RGB visualisation."""
    return PALETTE[np.asarray(parsing, dtype=np.uint8) % len(PALETTE)]


class FaceParser(ABC):
    """Maps an aligned face to a (S, S) uint8 map of the 12 class ids."""

    @abstractmethod
    def parse(self, aligned: np.ndarray, landmarks_aligned: np.ndarray) -> np.ndarray:
        """``aligned``: (S, S, 3) uint8 RGB; ``landmarks_aligned``: (478, 2) aligned px."""


PARSERS: Registry[FaceParser] = Registry(
    "parser",
    {
        "landmarks": "s3pot.parsing.landmarks:LandmarkParser",
        "bisenet": "s3pot.parsing.bisenet:build_bisenet_parser",
    },
)


def build_parser(name: str = "landmarks", **kwargs) -> FaceParser:
    """Parser by name: ``landmarks`` (default, no weights) or ``bisenet`` (checkpoint=PATH)."""
    return PARSERS.build(name, **kwargs)
