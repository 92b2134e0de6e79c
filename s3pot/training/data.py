"""Training photos: listing a folder and turning a photo into prepared faces.

Training is self-supervised, so a training folder may sit next to (or contain) ground
truth and must never read it. Listing works on names only (nothing is opened): folders
named like ground truth are not entered, files named like masks are skipped, and only
image suffixes count. Opening a file happens later, for photos only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from s3pot.image_io import IMAGE_SUFFIXES
from s3pot.types import FaceResult

# Folder names that hold annotations in the layouts we know (bench/, CelebAMask-HQ, labelme).
GROUND_TRUTH_DIRS = frozenset(
    {
        "mask", "masks", "gt", "ground_truth", "groundtruth", "label", "labels", "annotation",
        "annotations", "segmentation", "segmentations", "celebamask-hq-mask-anno",
    }
)
# File-name endings of mask files kept next to their photos.
GROUND_TRUTH_STEMS = ("_mask", "-mask", ".mask", "_gt", "-gt", "_label", "_labels")

Preparer = Callable[[np.ndarray], list[FaceResult]]


def is_ground_truth_name(path: Path) -> bool:
    """True for a file whose name says it is an annotation, not a photo."""
    stem = path.stem.lower()
    return stem.endswith(GROUND_TRUTH_STEMS) or stem in {"mask", "gt", "label"}


def list_training_images(data_dir: str | Path) -> list[Path]:
    """Photos under ``data_dir`` (recursive, sorted), never ground truth; opens nothing."""
    root = Path(data_dir)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d.lower() not in GROUND_TRUTH_DIRS and not d.startswith("."))
        for name in filenames:
            p = Path(dirpath) / name
            if p.suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".") and not is_ground_truth_name(p):
                found.append(p)
    return sorted(found)


def pipeline_preparer(
    align_size: int = 1024,
    parser: str = "landmarks",
    generator: str = "pca",
    parser_kwargs: dict | None = None,
    generator_kwargs: dict | None = None,
) -> Preparer:
    """The pipeline's own face stage + parsing + reference, as one callable per photo."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    predictor = S3potPredictor(
        PipelineConfig(
            align_size=align_size,
            parser=parser,
            parser_kwargs=dict(parser_kwargs or {}),
            generator=generator,
            generator_kwargs=dict(generator_kwargs or {}),
        )
    )
    return predictor.prepare
