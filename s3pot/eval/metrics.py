"""Occlusion-segmentation metrics, accumulated per image and pooled over a set.

Definitions (``P`` predicted occlusion, ``G`` ground-truth occlusion, pixels counted over the
whole image unless said otherwise):

- ``occluder_iou``: sum over images of |P∧G| divided by the sum of |P∨G| (one IoU of the
  whole set, so large occluders weigh more, as segmentation benchmarks pool it);
- ``mean_iou``: mean over images with non-empty G of the per-image IoU;
- ``precision``, ``recall``: pooled TP/(TP+FP), TP/(TP+FN); ``f1`` = 2TP/(2TP+FP+FN);
- ``pixel_accuracy``: pooled fraction of pixels where P equals G;
- ``face_miou``: RealOcc-style two-class mIoU of the *visible face* versus everything else
  (mean of the pooled IoU of the face class and of the non-face class); with a given face
  region the predicted visible face is that region minus the predicted occlusion;
- ``clean_fp_rate``: on images with empty G, the pooled fraction of the face region that is
  flagged (of the whole image where no face region is given).

A value that is undefined on the data (say, precision of a method that flags nothing, or
occlusion metrics on a layout that only gives visible-face masks) is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

METRIC_KEYS = ("occluder_iou", "mean_iou", "precision", "recall", "f1", "pixel_accuracy",
               "face_miou", "clean_fp_rate")


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of a binary prediction against a binary ground truth."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray) -> Confusion:
        pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
        tp = int(np.count_nonzero(pred & gt))
        fp = int(np.count_nonzero(pred)) - tp
        fn = int(np.count_nonzero(gt)) - tp
        return cls(tp, fp, fn, gt.size - tp - fp - fn)

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                         self.tn + other.tn)

    @property
    def iou(self) -> float | None:
        union = self.tp + self.fp + self.fn
        return self.tp / union if union else None

    @property
    def background_iou(self) -> float | None:
        union = self.tn + self.fp + self.fn
        return self.tn / union if union else None


@dataclass(frozen=True)
class ImageScore:
    """Everything the set metrics need from one image (no masks kept)."""

    name: str
    occlusion: Confusion | None  # None when the ground truth gives no occlusion
    visible: Confusion | None  # visible-face confusion, None when not computable
    region_pixels: int  # face-region pixels (whole image when no face region)
    region_flagged: int  # predicted occlusion pixels inside that region

    @property
    def gt_empty(self) -> bool:
        o = self.occlusion
        return o is not None and o.tp + o.fn == 0

    @property
    def iou(self) -> float | None:
        """Per-image occluder IoU, None when ground truth is empty or unknown."""
        if self.occlusion is None or self.gt_empty:
            return None
        return self.occlusion.iou


def score_image(
    name: str,
    pred_occlusion: np.ndarray,
    gt_occlusion: np.ndarray | None,
    gt_visible: np.ndarray | None = None,
    face: np.ndarray | None = None,
    pred_visible: np.ndarray | None = None,
) -> ImageScore:
    """Score one image.

    Face/non-face mIoU: when the dataset gives a face region, the predicted visible face is
    ``face`` minus the predicted occlusion for every method, so the metric compares
    occlusion masks only and methods stay comparable; ``pred_visible`` (the method's own
    visible-face mask) is used only where no face region is given, as on RealOcc.
    ``gt_visible`` defaults to ``face`` minus the ground-truth occlusion.
    """
    pred = np.asarray(pred_occlusion, bool)
    if gt_visible is None and face is not None and gt_occlusion is not None:
        gt_visible = np.asarray(face, bool) & ~np.asarray(gt_occlusion, bool)
    occ = Confusion.of(pred, gt_occlusion) if gt_occlusion is not None else None
    vis = None
    if gt_visible is not None:
        if face is not None:
            pred_visible = np.asarray(face, bool) & ~pred
        if pred_visible is not None:
            vis = Confusion.of(pred_visible, gt_visible)
    region = np.asarray(face, bool) if face is not None else np.ones(pred.shape, bool)
    return ImageScore(name, occ, vis, int(np.count_nonzero(region)),
                      int(np.count_nonzero(pred & region)))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _total(items: Iterable[Confusion]) -> Confusion | None:
    items = list(items)
    if not items:
        return None
    total = items[0]
    for c in items[1:]:
        total = total + c
    return total


def summarize(scores: Sequence[ImageScore]) -> dict:
    """Set metrics (keys :data:`METRIC_KEYS`) plus image counts."""
    occ = _total(s.occlusion for s in scores if s.occlusion is not None)
    vis = _total(s.visible for s in scores if s.visible is not None)
    per_image = [s.iou for s in scores if s.iou is not None]
    clean = [s for s in scores if s.gt_empty]
    out: dict = dict.fromkeys(METRIC_KEYS)
    if occ is not None:
        out["occluder_iou"] = occ.iou
        out["precision"] = _ratio(occ.tp, occ.tp + occ.fp)
        out["recall"] = _ratio(occ.tp, occ.tp + occ.fn)
        out["f1"] = _ratio(2 * occ.tp, 2 * occ.tp + occ.fp + occ.fn)
        out["pixel_accuracy"] = _ratio(occ.tp + occ.tn, occ.tp + occ.fp + occ.fn + occ.tn)
    if per_image:
        out["mean_iou"] = float(np.mean(per_image))
    if vis is not None:
        face_iou, bg_iou = vis.iou, vis.background_iou
        parts = [v for v in (face_iou, bg_iou) if v is not None]
        out["face_miou"] = float(np.mean(parts)) if parts else None
    if clean:
        out["clean_fp_rate"] = _ratio(sum(s.region_flagged for s in clean),
                                      sum(s.region_pixels for s in clean))
    out["n_images"] = len(scores)
    out["n_occluded"] = sum(1 for s in scores if s.occlusion is not None and not s.gt_empty)
    out["n_clean"] = len(clean)
    return out
