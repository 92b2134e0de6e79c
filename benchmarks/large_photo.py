"""Large-photo benchmark: wall time and peak memory of ``s3pot segment`` on one big photo.

A camera or a stitched group photo is tens of megapixels; every full-frame float buffer or
slow encoder then costs seconds and gigabytes. This script makes a large photo (scikit-
image's astronaut tiled twice and upscaled to ``--side`` pixels wide: two faces, no data
needed), then runs, each in a fresh process:

- ``s3pot segment PHOTO --json --save-parsing --save-visible --save-reference`` (every
  output), and
- the I/O floor: decode the photo, write it once as PNG (s3pot's colour-PNG settings) and once
  as JPEG, i.e. what any tool that reads the photo and writes full-size images must pay,

and prints wall time and peak resident memory of each, and their ratios.

    python benchmarks/large_photo.py [--side 8000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IO_FLOOR = """
import sys
from s3pot.image_io import load_image, save_image
img = load_image(sys.argv[1])
save_image(sys.argv[2] + "/floor.png", img)
save_image(sys.argv[2] + "/floor.jpg", img)
"""


def make_photo(path: Path, side: int) -> tuple[int, int]:
    import cv2
    import numpy as np
    from skimage import data

    from s3pot.image_io import save_image

    face = data.astronaut()
    two = np.concatenate([face, face[:, ::-1]], axis=1)
    h = round(side * two.shape[0] / two.shape[1])
    big = cv2.resize(two, (side, h), interpolation=cv2.INTER_CUBIC)
    save_image(path, big, quality=95)
    return big.shape[:2]


def run_child(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far: the smaller job runs first.
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", type=int, default=8000, help="photo width in pixels")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "large.jpg"
        h, w = make_photo(photo, args.side)
        out = Path(tmp) / "out"
        out.mkdir()
        floor_t, floor_m = run_child([sys.executable, "-c", IO_FLOOR, str(photo), str(out)])
        seg_t, seg_m = run_child([sys.executable, "-m", "s3pot.cli.main", "segment", str(photo),
                                  "-o", str(out), "--quiet", "--json", "--save-parsing",
                                  "--save-visible", "--save-reference"])
    print(f"photo: {w} x {h} ({w * h / 1e6:.1f} Mpx), 2 faces")
    print("| run | wall s | peak RSS MiB |")
    print("|---|---|---|")
    print(f"| I/O floor (decode, PNG + JPEG) | {floor_t:.1f} | {floor_m:.0f} |")
    print(f"| s3pot segment, every output | {seg_t:.1f} | {seg_m:.0f} |")
    print(f"ratio to the I/O floor: time {seg_t / floor_t:.2f}, peak memory {seg_m / floor_m:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
