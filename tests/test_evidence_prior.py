"""The clean-face evidence prior: fitting, storage, and its effect on the evidence."""

from __future__ import annotations

import numpy as np
import pytest

from s3pot.errors import CheckpointError
from s3pot.segmenters.evidence import EvidencePrior, default_prior_path, fit_prior, pixel_evidence
from s3pot.segmenters.offline import _above


def test_pixel_evidence_is_zero_for_an_identical_confident_reference():
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    e_conf, e_diff = pixel_evidence(img, img, np.ones((32, 32), np.float32))
    assert e_conf.max() == 0 and e_diff.max() == 0
    other = img.copy()
    other[8:16, 8:16] = 255 - other[8:16, 8:16]
    _, e_diff = pixel_evidence(img, other, np.ones((32, 32), np.float32))
    assert e_diff[8:16, 8:16].mean() > 0.5 and e_diff[20:, 20:].max() == 0


def test_colour_evidence_ramps_with_the_euclidean_lab_distance():
    import cv2

    from s3pot.segmenters.evidence import DIFF_HI, DIFF_LO

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    _, e_diff = pixel_evidence(img, ref, np.ones((40, 40), np.float32))
    lab = [cv2.cvtColor(x, cv2.COLOR_RGB2LAB).astype(np.float64) for x in (img, ref)]
    dist = np.sqrt(((lab[0] - lab[1]) ** 2).sum(2))
    expected = np.clip((dist - DIFF_LO) / (DIFF_HI - DIFF_LO), 0, 1)
    assert e_diff.shape == (40, 40) and e_diff.dtype == np.float32
    np.testing.assert_allclose(e_diff, expected, atol=1e-5)
    assert 0 < (e_diff == 0).mean() < 1 and 0 < (e_diff == 1).mean() < 1  # both ends reached


def test_rejection_without_a_visible_colour_step_is_discounted():
    """1 - confidence counts in proportion to how visibly photo and reference differ: a lit
    cheek the reference reproduces within a few Lab units is not an occluder."""
    rng = np.random.default_rng(2)
    img = rng.integers(100, 160, (64, 64, 3), dtype=np.uint8)
    ref = img.copy()
    ref[:, 32:] = np.clip(ref[:, 32:].astype(int) + 60, 0, 255).astype(np.uint8)  # a real step
    ref[:, :32] = np.clip(ref[:, :32].astype(int) + 2, 0, 255).astype(np.uint8)  # barely visible
    rejected = np.zeros((64, 64), np.float32)  # the model rejects everything
    e_conf, _ = pixel_evidence(img, ref, rejected)
    assert e_conf[:, :28].max() < 0.2
    assert e_conf[:, 36:].min() > 0.95
    plain, _ = pixel_evidence(img, ref, rejected, conf_step=0.0)
    assert plain.min() == 1.0


def test_fit_records_where_clean_faces_show_evidence(tmp_path):
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(40):
        e = rng.uniform(0, 0.05, (128, 128)).astype(np.float32)
        e[:, :32] = rng.uniform(0.4, 0.6, (128, 32))  # a strip clean faces always show
        samples.append((e, e * 0.5))
    prior = fit_prior(samples)
    q_conf, q_diff = prior.level(128)
    assert q_conf[:, :24].mean() > 0.4 and q_conf[:, 48:].mean() < 0.1
    assert q_diff[:, :24].mean() == pytest.approx(q_conf[:, :24].mean() * 0.5, rel=0.1)
    path = tmp_path / "prior.npz"
    prior.save(path)
    back = EvidencePrior.load(path)
    assert back.count == 40
    np.testing.assert_allclose(back.q90, prior.q90, atol=1e-3)
    # Evidence a clean face shows there no longer counts; the same evidence elsewhere does.
    e = np.full((128, 128), 0.5, np.float32)
    left = _above(e, q_conf)
    assert left[:, :24].max() < 0.2 and left[:, 64:].min() > 0.45


def test_shipped_prior_loads_and_bad_files_fail_with_one_line(tmp_path):
    prior = EvidencePrior.load(default_prior_path())
    assert prior.count > 100 and prior.q90.shape[0] == 2
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="bad.npz"):
        EvidencePrior.load(bad)
    with pytest.raises(CheckpointError, match="not found"):
        EvidencePrior.load(tmp_path / "missing.npz")


def test_median_filter_ignores_texture_finer_than_the_model_but_not_an_occluder():
    """Pores and wrinkles (a pixel or two wide) are not colour steps; an occluder is."""
    ref = np.full((128, 128, 3), 150, np.uint8)
    raw = ref.copy()
    raw[3::6, :] = 60  # one-pixel dark lines across a smooth face: texture
    raw[40:60, 40:60] = 30  # a dark patch: an occluder
    conf = np.ones((128, 128), np.float32)
    _, plain = pixel_evidence(raw, ref, conf)
    _, filtered = pixel_evidence(raw, ref, conf, median=3)
    assert plain[3::6, 70:].min() == 1.0  # the lines read as colour steps without the filter
    assert filtered[:, 70:].max() == 0.0
    assert filtered[42:58, 42:58].min() == 1.0


def _turned_face_samples(rng: np.random.Generator, n: int) -> tuple[list, list[float]]:
    """Clean faces turned to the image's right show evidence on their right third."""
    samples, yaws = [], []
    for i in range(n):
        e = rng.uniform(0, 0.05, (64, 64)).astype(np.float32)
        yaw = 0.6 if i % 2 else 0.0
        if yaw:
            e[:, 44:] = rng.uniform(0.5, 0.7, (64, 20))
        samples.append((e, e * 0.5))
        yaws.append(yaw)
    return samples, yaws


def test_head_turn_bins_record_what_turned_clean_faces_show(tmp_path):
    samples, yaws = _turned_face_samples(np.random.default_rng(3), 200)
    prior = fit_prior(samples, yaws=yaws)
    right, _ = prior.level(64, yaw=0.6)
    frontal, _ = prior.level(64, yaw=0.0)
    left, _ = prior.level(64, yaw=-0.6)  # only from the mirrored faces
    assert right[:, 48:].mean() > 0.45 and right[:, :16].mean() < 0.1
    assert left[:, :16].mean() > 0.45 and left[:, 48:].mean() < 0.1
    assert frontal[:, 48:].mean() < 0.1
    half, _ = prior.level(64, yaw=0.45)  # between the 0.3 and 0.6 bins
    assert frontal[:, 48:].mean() < half[:, 48:].mean() < right[:, 48:].mean()
    pooled, _ = prior.level(64)
    assert 0.1 < pooled[:, 48:].mean() < right[:, 48:].mean()
    path = tmp_path / "prior.npz"
    prior.save(path)
    back = EvidencePrior.load(path)
    np.testing.assert_allclose(back.level(64, yaw=0.6)[0], right, atol=2e-3)
    # A prior fitted without head turns gives every face the pooled level.
    flat = fit_prior(samples)
    assert flat.q90_yaw is None
    np.testing.assert_array_equal(flat.level(64, yaw=0.6)[0], flat.level(64)[0])
    broken = tmp_path / "broken.npz"
    np.savez(broken, q90=prior.q90, mean=prior.mean, count=200, q90_yaw=prior.q90_yaw[:3],
             yaw_centres=prior.yaw_centres)  # three bins, five centres
    with pytest.raises(CheckpointError, match="broken.npz.*head-turn maps"):
        EvidencePrior.load(broken)
    with pytest.raises(ValueError, match="one yaw per sample"):
        fit_prior(samples, yaws=yaws[:-1])


def test_yaw_ratio_is_zero_when_frontal_and_changes_sign_when_mirrored():
    from s3pot.faces.base import CHEEK_LEFT, CHEEK_RIGHT, NOSE_TIP, yaw_ratio

    lm = np.zeros((478, 2))
    lm[NOSE_TIP], lm[CHEEK_LEFT], lm[CHEEK_RIGHT] = (50, 50), (20, 45), (80, 45)
    assert yaw_ratio(lm) == pytest.approx(0.0)
    lm[NOSE_TIP] = (65, 50)  # the nose towards the image's right
    turned = yaw_ratio(lm)
    assert turned > 0.2
    mirrored = lm.copy()
    mirrored[:, 0] = 100 - lm[:, 0]
    mirrored[[CHEEK_LEFT, CHEEK_RIGHT]] = mirrored[[CHEEK_RIGHT, CHEEK_LEFT]]
    assert yaw_ratio(mirrored) == pytest.approx(-turned)
