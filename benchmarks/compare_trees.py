"""End-to-end time of two source trees of s3pot on the same photos, interleaved call by call.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_trees.py /tmp/before . [PHOTOS ...] [--repeats 9]

Why: on the 2-core dev machine one run of ``benchmarks/photo_speed.py`` moves its median
ratio by about +-0.4 from run to run, so two separate runs cannot show a change of a few
per cent (what most speed work is). Here each tree runs in its own worker process (its own
models, the default pipeline), and every photo is segmented by A and B in turn, the order
flipped on every repeat, so the machine's slow and fast phases fall on both alike. Prints,
per photo, the median time of each tree and B/A, then the median and mean of B/A. Default
photos: ``../shared/data/real/photos``.

Measured with it (2026-12-03): four exact micro-optimisations of the paste-back, the white
balance, ``valid_mask`` and ``face_region`` (each 0.1-5 ms in isolation, outputs
bit-identical) gave B/A 0.995 end to end: the time is spread over hundreds of small array
operations, none of which dominates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import s3pot
from s3pot.errors import S3potError
from s3pot.image_io import load_image
from s3pot.pipeline import S3potPredictor
if not s3pot.__file__.startswith(sys.argv[1]):
    sys.exit(f"imported {s3pot.__file__}, not the tree {sys.argv[1]}")
pred, images = S3potPredictor(), {}
for line in sys.stdin:
    path = line.strip()
    if path not in images:
        try:
            images[path] = load_image(path)
        except S3potError as exc:  # reported by the parent, which skips the photo
            print(json.dumps(str(exc)), flush=True)
            continue
        pred.segment(images[path])  # warm-up: graphs, caches
    t0 = time.perf_counter()
    pred.segment(images[path])
    print(json.dumps(time.perf_counter() - t0), flush=True)
"""


class UnreadablePhoto(Exception):
    """A worker could not read the photo (its one-line reason)."""


class Worker:
    """One tree's pipeline in its own process, timing one ``segment`` call per request."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(tree)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def time(self, photo: Path) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{photo}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker for {self.tree} stopped (run the tree's own tests)")
        answer = json.loads(line)
        if isinstance(answer, str):  # the photo could not be read
            raise UnreadablePhoto(answer)
        return float(answer)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "photos"
    ap.add_argument("tree_a", type=Path, help="source tree A (the baseline)")
    ap.add_argument("tree_b", type=Path, help="source tree B (the change)")
    ap.add_argument("photos", nargs="*", default=[str(default)], help="photos or folders")
    ap.add_argument("--repeats", type=int, default=9, help="timed calls per photo and tree (medians)")
    args = ap.parse_args(argv)
    from s3pot.image_io import find_images

    for tree in (args.tree_a, args.tree_b):
        if not (tree / "s3pot" / "__init__.py").is_file():
            print(f"{tree}: not an s3pot source tree (no s3pot/__init__.py)", file=sys.stderr)
            return 2
    paths, _ = find_images(args.photos)
    if not paths:
        print(f"no photos found in {' '.join(args.photos)}", file=sys.stderr)
        return 2
    workers = [Worker(args.tree_a.resolve()), Worker(args.tree_b.resolve())]
    print("| photo | A ms | B ms | B/A |")
    print("|---|---|---|---|")
    ratios = []
    try:
        for path in paths:
            path = path.resolve()
            try:
                times: list[list[float]] = [[], []]
                for w in workers:
                    w.time(path)  # warm-up on this photo
                for r in range(max(args.repeats, 1)):
                    for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                        times[i].append(workers[i].time(path))
            except UnreadablePhoto as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            except RuntimeError as exc:
                print(f"{path.name}: {exc}", file=sys.stderr)
                return 1
            a, b = (float(np.median(t)) * 1e3 for t in times)
            ratios.append(b / a)
            print(f"| {path.name} | {a:.1f} | {b:.1f} | {b / a:.3f} |", flush=True)
    finally:
        for w in workers:
            w.close()
    if not ratios:
        print("no photo could be read", file=sys.stderr)
        return 2
    print(f"B/A over {len(ratios)} photos: median {np.median(ratios):.3f}, mean {np.mean(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
