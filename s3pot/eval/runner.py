"""Scoring a prediction source on a dataset: the one place that reads ground truth."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from s3pot.eval.dataset import Dataset
from s3pot.eval.groups import UNGROUPED
from s3pot.eval.metrics import ImageScore, score_image, summarize
from s3pot.eval.predictions import PredictionSource


@dataclass
class EvalResult:
    """Per-image scores, the set summary and one summary per group."""

    scores: list[ImageScore]
    summary: dict
    groups: dict[str, dict] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The ``--format json`` object: metric keys at the top level, then ``groups``."""
        out = dict(self.summary)
        if self.groups:
            out["groups"] = self.groups
        return out


def evaluate(
    dataset: Dataset,
    predictions: PredictionSource,
    groups: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Score every sample of ``dataset``; errors (missing/mis-sized files) propagate."""
    t0 = time.perf_counter()
    scores: list[ImageScore] = []
    n = len(dataset)
    for i, sample in enumerate(dataset.samples):
        gt = sample.load_gt()
        ref = gt.occlusion if gt.occlusion is not None else gt.visible
        if ref is None:
            raise ValueError(f"reader gave no mask for {sample.name}")
        pred = predictions(sample, ref.shape)
        scores.append(score_image(sample.name, pred.occlusion, gt.occlusion,
                                  gt.visible_face(), gt.face, pred.visible))
        if progress is not None and ((i + 1) % 25 == 0 or i + 1 == n):
            progress(f"{i + 1}/{n} images scored")
    group_of: dict[str, str] = {}
    per_group: dict[str, dict] = {}
    if groups is not None:
        group_of = {s.name: groups.get(s.name, UNGROUPED) for s in scores}
        for g in sorted(set(group_of.values())):
            per_group[g] = summarize([s for s in scores if group_of[s.name] == g])
    return EvalResult(scores, summarize(scores), per_group, group_of, time.perf_counter() - t0)


def stderr_progress(message: str) -> None:
    """Progress lines on stderr, so stdout stays a clean table or JSON object."""
    print(f"s3pot eval: {message}", file=sys.stderr, flush=True)
