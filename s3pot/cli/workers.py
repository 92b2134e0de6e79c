"""Parallel photo workers for the batch commands (``--jobs N``).

Why processes, not threads: the pipeline is mostly numpy, OpenCV and mediapipe calls on
small arrays, and the mediapipe graph is not re-entrant, so one process keeps about 1.7
cores busy (the Python thread plus mediapipe's own). ``--jobs N`` starts N worker processes
(``spawn``: nothing of the parent's models or threads is inherited); each builds its own
models once, with one thread for OpenCV and torch so that workers share the cores instead
of fighting over them, and then takes photos one at a time. On a 2-core machine this gains
nothing (``benchmarks/batch_jobs.py``: 0.8-1.1x); it is for machines with more cores. Every output is still written atomically by the worker that
made it; the parent keeps the progress bar, the error lines and the summary, so a batch
reads the same with any number of jobs.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from s3pot.errors import S3potError

# process(photo, output stem) -> faces found; built once per process by a job factory.
Process = Callable[[Path, Path], int]
# (faces found, None) on success; (None, (photo, problem, message line)) on failure.
Outcome = tuple[int | None, tuple[str, str, str] | None]

_process: Process | None = None  # the worker's own pipeline (set by _start_worker)


def attempt(process: Process, path: Path, stem: Path) -> Outcome:
    """Run ``process`` on one photo; every failure on it becomes an outcome and the batch
    goes on (a batch of thousands of photos must not stop at one). An error s3pot did not
    foresee (a bug) is reported as an internal error, with its type, naming the photo.
    Interrupts (Ctrl-C) still stop the batch."""
    try:
        return process(path, stem), None
    except S3potError as exc:
        return None, (str(path), getattr(exc, "problem", str(exc)), f"s3pot: {exc}")
    except MemoryError:
        return None, (str(path), "out of memory", f"s3pot: {path}: out of memory")
    except OSError as exc:  # an output could not be written (disk full, permissions)
        where = f"{exc.filename}: " if exc.filename else ""
        why = f"cannot write outputs ({where}{exc.strerror or exc})"
        return None, (str(path), why, f"s3pot: {path}: {why}")
    except Exception as exc:  # a bug: the batch goes on and the summary names the photo
        detail = " ".join(str(exc).split())[:200]
        why = f"internal error, please report it with this photo ({type(exc).__name__}: {detail})"
        return None, (str(path), why, f"s3pot: {path}: {why}")


def _start_worker(make_process: Callable[[object], Process], args: object) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    global _process
    _process = make_process(args)


def _work(path: Path, stem: Path) -> Outcome:
    assert _process is not None, "worker used before its pipeline was built"
    return attempt(_process, path, stem)


def run_parallel(jobs: int, make_process: Callable[[object], Process], args: object,
                 tasks: Iterable[tuple[Path, Path]]) -> Iterator[tuple[Path, Outcome]]:
    """Yield ``(photo, outcome)`` as the workers finish them (not in input order).

    ``make_process`` must be a module-level function (workers import it by name). At most
    ``2 * jobs`` photos are queued at a time, so a batch of a million paths does not become
    a million pending futures.
    """
    ctx = multiprocessing.get_context("spawn")
    pending: dict = {}
    todo = iter(tasks)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_start_worker,
                             initargs=(make_process, args)) as pool:
        try:
            while True:
                for path, stem in todo:
                    pending[pool.submit(_work, path, stem)] = path
                    if len(pending) >= 2 * jobs:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    path = pending.pop(fut)
                    try:
                        yield path, fut.result()
                    except BrokenProcessPool:
                        # A worker died (killed for memory, a native crash): say so once and
                        # count what is left as failed, rather than hang or print a traceback.
                        why = "a worker process died (out of memory or a native crash)"
                        print(f"s3pot: {why}; the photos not yet done are reported as failed",
                              file=sys.stderr)
                        for p in [path, *pending.values(), *(p for p, _ in todo)]:
                            yield p, (None, (str(p), why, ""))
                        pending.clear()
                        return
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
