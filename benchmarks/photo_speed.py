"""Speed on a folder of photos of any size, against mediapipe's face mesh in the same run.

    python benchmarks/photo_speed.py [PHOTOS ...] [--repeats 5] [--occluders hands]

The dev benchmark's frames are ~200 px; users' photos are megapixels and may hold several
faces. For every photo this times, interleaved in one process, the whole pipeline
(detection to pasted-back masks, ``S3potPredictor.segment``), the pipeline's own face-mesh
call on the same photo (iris refinement, up to 16 faces) and mediapipe's ``FaceMesh()`` with
default options (one face, no iris refinement), and prints the medians and their ratios,
then the median ratio over the photos and the peak memory. Default photos:
``../shared/data/real/photos``.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import numpy as np
from timing import timed_in_turn

from s3pot.errors import S3potError
from s3pot.image_io import find_images, load_image
from s3pot.pipeline import PipelineConfig, S3potPredictor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "photos"
    ap.add_argument("photos", nargs="*", default=[str(default)], help="photos or folders")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per photo (medians)")
    ap.add_argument("--occluders", default="hands", help="occluder detector ('none' to skip)")
    args = ap.parse_args(argv)
    paths, _ = find_images(args.photos)
    if not paths:
        print(f"no photos found in {' '.join(args.photos)}", file=sys.stderr)
        return 2
    import mediapipe as mp

    pred = S3potPredictor(PipelineConfig(occluders=args.occluders))
    mesh = pred.detector._mesh  # the pipeline's own face-mesh call
    plain = mp.solutions.face_mesh.FaceMesh(static_image_mode=True)
    print("| photo | size | faces | s3pot ms | mesh ms | FaceMesh() ms | ratio | ratio to FaceMesh() |")
    print("|---|---|---|---|---|---|---|---|")
    ratios, ratios_plain = [], []
    for path in paths:
        try:
            image = load_image(path)
        except S3potError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        faces = len(pred.segment(image).faces)  # warm-up (first graphs, caches)
        mesh.process(image)
        plain.process(image)
        t_pipe, t_mesh, t_plain = [], [], []
        for _ in range(max(args.repeats, 1)):
            _, (tm, tp, td) = timed_in_turn(
                (mesh.process, pred.segment, plain.process), image)
            t_mesh.append(tm)
            t_pipe.append(tp)
            t_plain.append(td)
        p, m, d = (float(np.median(t)) for t in (t_pipe, t_mesh, t_plain))
        ratios.append(p / m)
        ratios_plain.append(p / d)
        h, w = image.shape[:2]
        print(f"| {path.name} | {w}x{h} | {faces} | {p * 1e3:.1f} | {m * 1e3:.1f} | {d * 1e3:.1f} "
              f"| {p / m:.2f} | {p / d:.2f} |")
    if ratios:
        print(f"median ratio over {len(ratios)} photos: {np.median(ratios):.2f} to the pipeline's mesh "
              f"call, {np.median(ratios_plain):.2f} to FaceMesh() with default options")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
