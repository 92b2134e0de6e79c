"""benchmarks/evidence_stages.py: per-family means of the stage maps, pooled over pixels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its own imports (options)
    spec = importlib.util.spec_from_file_location("evidence_stages", BENCHMARKS / "evidence_stages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _maps(size: int, value_occ: float, value_vis: float, truth: np.ndarray) -> dict:
    region = np.zeros((size, size), np.float32)
    region[2:-2, 2:-2] = 1
    m = np.where(truth, value_occ, value_vis).astype(np.float32)
    return {"region": region, "difference": m, "occluded": truth.astype(np.float32)}


def test_means_pool_pixels_over_faces_and_ignore_pixels_outside_m(script):
    size = 10
    t1 = np.zeros((size, size), bool)
    t1[2:4, 2:8] = True  # 12 truth pixels inside M
    t1[0, :] = True  # outside M: must not count
    t2 = np.zeros((size, size), bool)
    t2[2:8, 2:8] = True  # 36 truth pixels: all of M
    sums: dict = {}
    script.accumulate(sums, _maps(size, 1.0, 0.0, t1), t1)
    script.accumulate(sums, _maps(size, 0.0, 0.5, t2), t2)
    assert sums["_n"].tolist() == [12 + 36, 24 + 0]
    # Pooled: 12 pixels at 1 and 36 at 0 under the truth -> 0.25, not the mean of 1 and 0.
    assert sums["difference"][0] / sums["_n"][0] == pytest.approx(0.25)
    rows = script.table({"bar": sums})
    assert rows[0].startswith("| family | pixels occ / vis | difference |")
    assert rows[2] == "| bar | 48 / 24 | 0.25 / 0.00 | 1.00 |"


def test_a_family_without_truth_prints_dashes(script):
    size = 8
    none = np.zeros((size, size), bool)
    sums: dict = {}
    script.accumulate(sums, _maps(size, 1.0, 0.2, none), none)
    row = script.table({"clean": sums})[2]
    assert row == "| clean | 0 / 16 | - / 0.20 | - |"


def test_truth_is_warped_into_the_face_frame(script):
    from s3pot.faces.align import AlignTransform

    # A transform that halves the photo: a photo-frame square lands at half its place.
    tr = AlignTransform(matrix=np.array([[0.5, 0, 0], [0, 0.5, 0]]), size=64)
    truth = np.zeros((128, 128), bool)
    truth[64:128, 0:64] = True
    face = type("F", (), {"transform": tr})()
    got = script.truth_in_frame(truth, face, 32)
    assert got.shape == (32, 32)
    assert got[20, 5] and not got[5, 20] and got.mean() == pytest.approx(0.25, abs=0.03)
