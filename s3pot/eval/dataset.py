"""What a reader hands to the scorer: samples with lazily loaded ground truth.

Why lazy: a benchmark can hold thousands of large photos; loading one sample at a time
keeps memory bounded, and a size mismatch is reported for the exact file that has it.

Polarity, stated once: ``occlusion`` is True where something covers the face;
``visible`` is True where face is seen; ``face`` is the face region the annotation defines
(occlusion and visible both lie inside it when it is known).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from s3pot.errors import S3potError
from s3pot.image_io import load_image


class DatasetError(S3potError):
    """A dataset or prediction file is missing, unreadable or inconsistent."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class GroundTruth:
    """Masks of one sample, all (H, W) bool, in the evaluation frame of the sample."""

    occlusion: np.ndarray | None  # None when the layout gives only visible-face masks
    visible: np.ndarray | None = None
    face: np.ndarray | None = None

    def visible_face(self) -> np.ndarray | None:
        """Visible-face mask: given directly, or face minus occlusion when both are known."""
        if self.visible is not None:
            return self.visible
        if self.face is not None and self.occlusion is not None:
            return self.face & ~self.occlusion
        return None


@dataclass
class Sample:
    """One image of a dataset; ``load_gt`` and ``load_image`` read files on demand."""

    name: str
    image_path: Path
    load_gt: Callable[[], GroundTruth]
    image_loader: Callable[[], np.ndarray] | None = None

    def load_image(self) -> np.ndarray:
        """RGB uint8 image in the evaluation frame (what a method is given)."""
        if self.image_loader is not None:
            return self.image_loader()
        return load_image(self.image_path)


@dataclass
class Dataset:
    """A list of samples plus notes on how the layout was interpreted (shown to the user)."""

    root: Path
    layout: str
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)
    groups_csv: Path | None = None  # a grouping CSV found next to the data, if any

    def __len__(self) -> int:
        return len(self.samples)


_EXIF_ORIENTATION = 0x0112


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image in display orientation, without decoding the pixels.

    EXIF rotations 5..8 swap the sides, exactly as :func:`s3pot.image_io.load_image` does.
    """
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"cannot read image ({exc})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def read_mask(path: Path) -> np.ndarray:
    """A 0/255 (or 0/1) single-channel mask file -> (H, W) bool.

    Values above 127 are True; a mask whose maximum is 1 is read as 0/1. Colour masks are
    converted to luminance first; an alpha channel is ignored.
    """
    if not path.exists():
        raise DatasetError(path, "file not found")
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img.convert("L") if img.mode not in ("L", "1", "I", "I;16") else img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"cannot read mask ({exc})") from None
    if arr.dtype == bool:
        return arr
    top = int(arr.max(initial=0))
    return arr > 0 if top <= 1 else arr > (127 if top <= 255 else 32767)


def read_label_map(path: Path) -> np.ndarray:
    """A class-id label map (palette or grayscale PNG) -> (H, W) uint8 ids."""
    if not path.exists():
        raise DatasetError(path, "file not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "P"):
                raise DatasetError(path, f"label map must be single-channel, got mode {img.mode}")
            return np.asarray(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"cannot read label map ({exc})") from None


def check_size(mask: np.ndarray, shape: tuple[int, int], mask_path: object, what: str) -> None:
    """Raise naming ``mask_path`` when the mask is not exactly ``shape`` (never resize)."""
    if tuple(mask.shape[:2]) != tuple(shape[:2]):
        h, w = mask.shape[:2]
        raise DatasetError(
            mask_path,
            f"{what} is {w}x{h} but its image is {shape[1]}x{shape[0]} "
            "(masks are never resized; fix the file)",
        )


def halve_image(image: np.ndarray) -> np.ndarray:
    """Exact 2x area downscale (CelebA-HQ 1024 px photos -> 512 px annotation frame)."""
    h, w = image.shape[:2]
    return cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
