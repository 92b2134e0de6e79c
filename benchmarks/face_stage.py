"""Face stage benchmark: detection rate and time per photo.

For every image of a folder (default: the dev benchmark ``../shared/data/bench/images``),
runs

- the face stage (``MediapipeFaceMesh.detect``: face mesh, padded second chance, full-range
  detector fallback for small faces, downscaling of large photos), and
- the raw face-mesh call (mediapipe ``FaceMesh.process`` in static-image mode, 478 points),
- mediapipe's full-range face detector alone, for reference,

and prints the fraction of images where each found at least one face, and the median time
per photo. Images are decoded once, before timing.

    python benchmarks/face_stage.py [IMAGES_DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from s3pot.image_io import find_images, load_image

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "bench" / "images"


def _timed(fn, image: np.ndarray) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = fn(image)
    return n, time.perf_counter() - t0


def run(images_dir: Path, limit: int | None = None) -> dict[str, dict[str, float]]:
    import mediapipe as mp

    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

    paths, problems = find_images([str(images_dir)])
    if problems:
        raise SystemExit(f"face_stage: {problems[0][0]}: {problems[0][1]}")
    paths = paths[:limit] if limit else paths
    images = [load_image(p) for p in paths]

    stage = MediapipeFaceMesh()
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=16, refine_landmarks=True,
        min_detection_confidence=0.5,
    )
    full_range = mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=0.5
    )

    def stage_fn(img: np.ndarray) -> int:
        return len(stage.detect(img))

    def mesh_fn(img: np.ndarray) -> int:
        res = mesh.process(img)
        return len(res.multi_face_landmarks or [])

    def detector_fn(img: np.ndarray) -> int:
        res = full_range.process(img)
        return len(res.detections or [])

    methods = {"face stage (s3pot)": stage_fn, "raw face mesh": mesh_fn,
               "full-range detector only": detector_fn}
    for fn in methods.values():  # warm-up: graph start-up is not per-photo time
        fn(images[0])
    stats: dict[str, dict[str, float]] = {}
    missed: dict[str, list[str]] = {}
    for name, fn in methods.items():
        counts, times = [], []
        for img in images:
            n, dt = _timed(fn, img)
            counts.append(n)
            times.append(dt)
        found = np.array(counts) > 0
        stats[name] = {
            "rate": float(found.mean()),
            "found": int(found.sum()),
            "multi": int((np.array(counts) > 1).sum()),
            "median_ms": 1000 * statistics.median(times),
            "p90_ms": 1000 * float(np.percentile(times, 90)),
        }
        missed[name] = [p.name for p, ok in zip(paths, found, strict=True) if not ok]
    stage.close()
    mesh.close()
    full_range.close()

    sizes = np.array([img.shape[:2] for img in images])
    print(f"images: {len(images)} from {images_dir} "
          f"(median size {int(np.median(sizes[:, 1]))}x{int(np.median(sizes[:, 0]))})")
    print(f"{'method':<26} {'found':>9} {'rate':>7} {'>1 face':>8} {'median ms':>10} {'p90 ms':>8}")
    for name, s in stats.items():
        print(f"{name:<26} {s['found']:>4}/{len(images):<4} {100 * s['rate']:>6.1f}% "
              f"{s['multi']:>8} {s['median_ms']:>10.1f} {s['p90_ms']:>8.1f}")
    for name, names in missed.items():
        if names:
            shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
            print(f"missed by {name}: {shown}")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--limit", type=int, help="first N images only")
    args = ap.parse_args(argv)
    if not args.images.is_dir():
        print(f"face_stage: {args.images}: no such folder", file=sys.stderr)
        return 2
    stats = run(args.images, args.limit)
    rate = stats["face stage (s3pot)"]["rate"]
    print(f"face stage detection rate {100 * rate:.1f}% (target >= 97%): "
          f"{'met' if rate >= 0.97 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
