"""The guided filter that refines pasted-back masks at the photo's resolution."""

from __future__ import annotations

import cv2
import numpy as np

from s3pot.decode.edges import guided_filter, keep_strong, snap_to_edges


def _scene(side: int = 600, step: int = 301, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A photo with a vertical colour step at ``step`` and a coarse soft map whose 0.5
    crossing lies 10 px to its right (a decoder's edge, off the photo's)."""
    rng = np.random.default_rng(seed)
    photo = np.zeros((side, side, 3), np.float64)
    photo[:, :step] = (60, 90, 120)
    photo[:, step:] = (200, 170, 140)
    photo = np.clip(photo + rng.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    x = np.arange(side, dtype=np.float32)
    soft = np.clip((x - (step + 10)) / 40 + 0.5, 0, 1)
    return photo, np.repeat(soft[None], side, 0)


def test_full_fit_is_opencvs_filter() -> None:
    photo, soft = _scene(200, 101)
    np.testing.assert_array_equal(guided_filter(photo, soft, 6, 20.0),
                                  cv2.ximgproc.guidedFilter(photo, soft, 6, 20.0))


def test_own_fit_agrees_with_opencvs_at_nearly_full_resolution() -> None:
    """The fit of the fast path (shrunk by a hair here) is the same filter as OpenCV's."""
    photo, soft = _scene(200, 101)
    ours = guided_filter(photo, soft, 6, 20.0, coarse_side=199)
    ref = cv2.ximgproc.guidedFilter(photo, soft, 6, 20.0)
    assert np.abs(ours - ref)[10:-10, 10:-10].max() < 0.05


def test_coarse_fit_puts_the_edge_on_the_photo_at_full_resolution() -> None:
    """Fitted on a 128-px copy (4.7 photo px per coarse pixel), the output's 0.5 crossing
    still moves onto the photo's own step, to within what the full fit gives (a few px
    under this noise), from 10 px off."""
    photo, soft = _scene()
    out = guided_filter(photo, soft, 19, 20.0, coarse_side=128)
    assert out.shape == soft.shape and out.dtype == np.float32
    crossing = np.argmax(out[50:-50] >= 0.5, axis=1)
    assert crossing.min() >= 301 and crossing.max() <= 304, np.unique(crossing)
    full = np.argmax(guided_filter(photo, soft, 19, 20.0)[50:-50] >= 0.5, axis=1)
    assert full.min() >= 301 and full.max() <= 305, np.unique(full)
    before = np.argmax(soft[50:-50] >= 0.5, axis=1)
    assert np.all(before == 311)  # where the unrefined map put it


def test_a_thin_line_without_a_colour_step_survives_snapping_only_when_kept() -> None:
    """Strong evidence three pixels wide on a photo with no colour step there: the smoother
    averages it far under the seed threshold (0.45); kept with a margin of 0.7 it stays
    above it, only on the line, and weak evidence elsewhere is left to the smoother."""
    photo = np.full((128, 128, 3), 150, np.uint8)
    score = np.zeros((128, 128), np.float32)
    score[:, 60:63] = 1.2
    score[:, 100:103] = 0.5  # weak evidence: under the margin, nothing kept
    snapped = snap_to_edges(photo, score, 100.0, 10.0)
    assert snapped[:, 60:63].max() < 0.3
    kept = keep_strong(snapped, score, 0.7)
    assert kept.dtype == np.float32
    assert kept[:, 60:63].min() >= 0.5 - 1e-6
    np.testing.assert_array_equal(kept[:, 100:103], snapped[:, 100:103])
    np.testing.assert_array_equal(kept[:, :55], snapped[:, :55])


def test_kept_evidence_stays_inside_its_region() -> None:
    snapped = np.zeros((20, 20), np.float32)
    before = np.ones((20, 20), np.float32)
    where = np.zeros((20, 20), bool)
    where[:, :10] = True
    kept = keep_strong(snapped, before, 0.4, where)
    assert np.allclose(kept[:, :10], 0.6) and np.all(kept[:, 10:] == 0.0)
