"""The face stages run numpy's BLAS and torch on one thread, and give the pools back."""

import os

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from s3pot.threads import single_blas_thread, single_torch_thread


def _blas_threads() -> list[int]:
    """Threads of numpy's own BLAS (other libraries may load theirs later)."""
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    return [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas" and lib["filepath"].startswith(os.path.join(numpy_dir, "numpy"))]


def test_single_blas_thread_limits_and_restores():
    np.linalg.solve(np.eye(4), np.ones(4))  # BLAS loaded
    before = _blas_threads()
    assert before, "numpy's BLAS not visible to threadpoolctl"
    if before == [1]:
        pytest.skip("numpy's BLAS already runs on one thread here: nothing to limit")
    with single_blas_thread():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_single_torch_thread_restores_after_error():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        try:
            with single_torch_thread():
                assert torch.get_num_threads() == 1
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)  # leave the session's pool as it was


def test_pipeline_face_stages_run_on_one_blas_thread(astronaut, detector):
    """prepare() runs the generator with numpy's BLAS limited (seen from inside the stage),
    and the whole segment() call gives the pool back."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.reference.pca import PCAReferenceGenerator

    seen = []

    class Spy(PCAReferenceGenerator):
        def generate(self, aligned, lm, parsing):
            seen.append(_blas_threads())
            return super().generate(aligned, lm, parsing)

    pred = S3potPredictor(PipelineConfig(occluders="none"), detector=detector)
    pred._generator = Spy()
    before = _blas_threads()
    result = pred.segment(astronaut)
    assert len(result.faces) == 1 and seen == [[1] * len(before)]
    assert _blas_threads() == before
