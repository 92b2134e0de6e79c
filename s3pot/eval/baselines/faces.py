"""Per-face context for the baselines, through the project's pipeline API.

Baselines that need a face region, a parsing or a reference get them from
``S3potPredictor.prepare`` (aligned crop, parsing, reference per face), so they see exactly
the faces and regions the s3pot method sees; only the occlusion decision differs. A
``prepare`` callable can be injected instead (tests use a fake one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from s3pot.types import FaceResult

Prepare = Callable[[np.ndarray], list[FaceResult]]


def pipeline_prepare(reference: bool, config=None) -> Prepare:
    """``prepare(image)`` of a lazily built :class:`s3pot.pipeline.S3potPredictor`."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    predictor = S3potPredictor(config or PipelineConfig())

    def prepare(image: np.ndarray) -> list[FaceResult]:
        return predictor.prepare(image, reference=reference)

    return prepare


def paste_union(faces: list[FaceResult], masks: list[np.ndarray], shape: tuple[int, int],
                soft: bool = False) -> np.ndarray:
    """Union over faces of aligned-frame masks mapped to the photo (threshold 0.5 if soft)."""
    out = np.zeros(shape[:2], bool)
    for fr, m in zip(faces, masks, strict=True):
        valid = fr.extras.get("valid")
        if valid is not None:
            m = np.where(valid, m, 0)
        if soft:
            out |= fr.transform.to_photo_mask(m.astype(np.float32), shape[:2], soft=True) >= 0.5
        else:
            out |= fr.transform.to_photo_mask(m.astype(bool), shape[:2])
    return out
