"""Batch throughput: ``s3pot segment FOLDER`` with ``--jobs 1`` and ``--jobs N``.

Each run is a fresh process over the same photos (model loading and worker start-up
included, as a user pays them), in the same command, so the ratio holds on any machine.
The photos are the developers' bench images when ``../shared`` is there, otherwise
composites made from scikit-image's astronaut (no data needed).

    python benchmarks/batch_jobs.py [--jobs 2] [--photos 300] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench" / "images"


def make_photos(folder: Path, n: int) -> None:
    """``n`` astronaut variants (shifted, mirrored, exposure changed) as JPEG files."""
    import numpy as np
    from skimage import data

    from s3pot.image_io import save_image

    rng = np.random.default_rng(0)
    base = data.astronaut()
    for i in range(n):
        img = np.roll(base, rng.integers(-40, 40), axis=1).astype(np.float32) * rng.uniform(0.8, 1.1)
        img = np.clip(img, 0, 255).astype(np.uint8)
        save_image(folder / f"a{i:04d}.jpg", np.ascontiguousarray(img[:, ::-1] if i % 2 else img))


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # 1: some photo failed, still a finished batch
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--photos", type=int, default=300, help="how many photos (at most)")
    ap.add_argument("--folder", type=Path, default=None, help="photos to use (default: the bench)")
    args = ap.parse_args(argv)
    exe = [sys.executable, "-m", "s3pot.cli.main", "segment", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        folder = args.folder or (BENCH if BENCH.is_dir() else None)
        if folder is None:
            make_photos(src, args.photos)
        else:
            for p in sorted(folder.iterdir())[: args.photos]:
                os.symlink(p.resolve(), src / p.name)
        n = len(list(src.iterdir()))
        one = timed(exe + [str(src), "-o", str(Path(tmp) / "j1"), "--jobs", "1"])
        many = timed(exe + [str(src), "-o", str(Path(tmp) / "jn"), "--jobs", str(args.jobs)])
    print(f"photos: {n} ({'bench' if folder else 'astronaut variants'}); cores: {os.cpu_count()}")
    print("| run | wall s | photos / s |")
    print("|---|---|---|")
    print(f"| --jobs 1 | {one:.1f} | {n / one:.1f} |")
    print(f"| --jobs {args.jobs} | {many:.1f} | {n / many:.1f} |")
    print(f"speed-up: {one / many:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
