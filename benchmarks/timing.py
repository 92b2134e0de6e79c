"""Interleaved timing of the benchmark scripts: several calls on the same input, in turn.

Timing a pipeline and its baseline in the same loop, one after the other on every input,
lets a ratio survive this VM's speed swings (about 20 % run to run). The scripts run as
``python benchmarks/NAME.py``, so this folder is on ``sys.path`` and they import it as
``timing``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed_in_turn(calls: tuple[Callable[[Any], Any], ...], arg: Any) -> tuple[list[Any], list[float]]:
    """``call(arg)`` for each of ``calls``, one after the other: their results and their
    wall times (seconds)."""
    results, seconds = [], []
    for call in calls:
        t0 = time.perf_counter()
        results.append(call(arg))
        seconds.append(time.perf_counter() - t0)
    return results, seconds
