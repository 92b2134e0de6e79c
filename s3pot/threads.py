"""Native thread pools kept to one thread where the work is small.

The face stages solve many tiny problems (64 x 64 systems, a few hundred tokens), while
mediapipe's hand graph runs beside them on the second core (:mod:`s3pot.pipeline`).
OpenBLAS and torch then only add overhead: their worker threads spin on the core the
graph needs. Measured with ``benchmarks/offline_quality.py --limit 2`` (two runs each,
alternating): end-to-end ratio to the face-mesh call 6.31 / 5.78 with the default two
BLAS threads, 5.42 / 5.14 with one; OpenCV's pool made no difference (left as is).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_controller = None


def _blas():
    """threadpoolctl's view of the BLAS libraries loaded at first use, numpy's among them
    (built once: a scan of the loaded libraries costs ~2 ms, a limit on it ~20 us)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread for the duration (restored afterwards, even on error)."""
    with _blas().limit(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """torch's intra-op pool on one thread: 5-10x faster for tiny ops than a contended pool."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
