"""benchmarks/offline_quality.py: the pooled share of ground truth outside M."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its own imports (options, timing)
    spec = importlib.util.spec_from_file_location("offline_quality", BENCHMARKS / "offline_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outside_share_pools_pixels_not_images(script):
    # 10 of 100 truth pixels outside M in one image, none of 900 in another: 10 / 1000,
    # not the mean of the per-image shares (0.05).
    assert script.outside_share([(100, 10), (900, 0)]) == pytest.approx(0.01)
    assert script.outside_share([(50, 50)]) == 1.0


def test_outside_share_without_truth_is_undefined(script):
    # Clean images have no truth: no share (printed "-"), not 0 (which would read as "M
    # holds all of it").
    assert script.outside_share([(0, 0), (0, 0)]) is None
    assert script.outside_share([]) is None


def test_pipeline_options_read_true_and_false_as_booleans(script):
    # ``--pipeline remesh=false`` must switch the remesh off: the string "false" is truthy.
    from options import parse_options

    got = parse_options(["remesh=false", "flag=True", "n=3", "x=0.5", "name=hat"])
    assert got == {"remesh": False, "flag": True, "n": 3, "x": 0.5, "name": "hat"}
    assert got["remesh"] is False and got["flag"] is True
