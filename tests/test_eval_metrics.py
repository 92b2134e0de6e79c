"""Every metric of s3pot.eval.metrics on cases small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from s3pot.eval.metrics import METRIC_KEYS, Confusion, score_image, summarize


def m(rows: list[str]) -> np.ndarray:
    """Mask from strings: '#' = True."""
    return np.array([[c == "#" for c in r] for r in rows])


# 2x4 images. A: GT 3 px, pred 2 of them + 1 wrong. B: GT 1 px, pred misses it.
GT_A = m(["###.", "...."])
PR_A = m(["##..", "#..."])
GT_B = m(["....", "...#"])
PR_B = m(["....", "...."])
# C: clean image (empty GT), pred flags 1 px; face region 4 px of which the flag is one.
GT_C = m(["....", "...."])
PR_C = m(["#...", "...."])
FACE_C = m(["##..", "##.."])


def test_confusion_counts() -> None:
    c = Confusion.of(PR_A, GT_A)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 4)
    assert c.iou == pytest.approx(2 / 4)
    assert c.background_iou == pytest.approx(4 / 6)


def test_confusion_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        Confusion.of(np.zeros((2, 3), bool), np.zeros((3, 2), bool))


def test_pooled_metrics() -> None:
    scores = [score_image("a", PR_A, GT_A), score_image("b", PR_B, GT_B),
              score_image("c", PR_C, GT_C, face=FACE_C)]
    s = summarize(scores)
    # pooled: TP 2, FP 1+0+1, FN 1+1+0, TN 4+7+7
    assert s["occluder_iou"] == pytest.approx(2 / (2 + 2 + 2))
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["recall"] == pytest.approx(2 / 4)
    assert s["f1"] == pytest.approx(4 / (4 + 2 + 2))
    assert s["pixel_accuracy"] == pytest.approx((2 + 18) / 24)
    # per-image IoU over images with occlusion only: A = 2/4, B = 0/1
    assert s["mean_iou"] == pytest.approx((0.5 + 0.0) / 2)
    # clean image: 1 flagged of 4 face pixels
    assert s["clean_fp_rate"] == pytest.approx(1 / 4)
    assert (s["n_images"], s["n_occluded"], s["n_clean"]) == (3, 2, 1)


def test_clean_fp_without_face_region_uses_whole_image() -> None:
    s = summarize([score_image("c", PR_C, GT_C)])
    assert s["clean_fp_rate"] == pytest.approx(1 / 8)
    assert s["mean_iou"] is None  # no image with occlusion


def test_face_miou_from_face_region() -> None:
    # face = left 3 columns; GT occludes (0,0); pred occludes (0,0) and (1,2)
    face = m(["###.", "###."])
    gt = m(["#...", "...."])
    pred = m(["#...", "..#."])
    s = summarize([score_image("x", pred, gt, gt_visible=face & ~gt, face=face)])
    # visible GT: 5 px, pred visible: 4 px, all inside GT -> face IoU 4/5
    # non-face GT: 3 px, pred non-face 4 px containing them -> non-face IoU 3/4
    assert s["face_miou"] == pytest.approx((4 / 5 + 3 / 4) / 2)


def test_face_miou_with_predicted_visible_mask() -> None:
    gt_vis = m(["##..", "...."])
    pred_vis = m(["#...", "#..."])
    s = summarize([score_image("x", np.zeros((2, 4), bool), None, gt_visible=gt_vis,
                               pred_visible=pred_vis)])
    # face IoU 1/3; non-face: GT 6 px, pred 6 px, overlap 5 -> 5/7
    assert s["face_miou"] == pytest.approx((1 / 3 + 5 / 7) / 2)
    # occlusion ground truth unknown: occlusion metrics are undefined, not zero
    assert s["occluder_iou"] is None and s["precision"] is None and s["clean_fp_rate"] is None


def test_undefined_values_are_none() -> None:
    # A method that flags nothing on an occluded image: precision undefined, recall 0.
    s = summarize([score_image("b", PR_B, GT_B)])
    assert s["precision"] is None
    assert s["recall"] == 0.0 and s["f1"] == 0.0 and s["occluder_iou"] == 0.0
    assert set(METRIC_KEYS) <= set(s)


def test_perfect_prediction() -> None:
    s = summarize([score_image("a", GT_A, GT_A, face=GT_A | m(["....", "##.."]))])
    for key in ("occluder_iou", "mean_iou", "precision", "recall", "f1", "pixel_accuracy",
                "face_miou"):
        assert s[key] == pytest.approx(1.0), key


def test_face_region_overrides_predicted_visible_for_comparability() -> None:
    face = m(["###.", "###."])
    gt = m(["#...", "...."])
    own_visible = m(["....", "...."])  # a method's own (here useless) visible mask
    with_face = score_image("x", gt, gt, face=face, pred_visible=own_visible)
    assert summarize([with_face])["face_miou"] == pytest.approx(1.0)
