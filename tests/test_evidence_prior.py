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
