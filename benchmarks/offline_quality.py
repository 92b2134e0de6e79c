"""Quality and speed of the default (offline) segmenter on the dev benchmark.

    python benchmarks/offline_quality.py [--bench ../shared/data/bench] [--set key=value ...]

Prints occluder IoU (pooled), mean per-image IoU, clean false-positive rate (fraction of the
face region flagged on clean images), IoU per occluder family, and the median end-to-end
time per photo (detection to pasted-back mask) as a ratio to mediapipe's face-mesh call on
the same photos in the same run, plus peak memory. Rows ``texture=...`` group the
procedural occluders by what they are textured with (``families.csv`` ``details``).
The last column is the share of the ground-truth occlusion outside the pipeline's face
region M (the landmark outline), which no segmenter can find.
``--set`` overrides OfflineParams fields (for tuning; record what you change);
``--pipeline`` overrides PipelineConfig fields (``--pipeline remesh=false``: no second look
for landmarks, s3pot.faces.remesh). ``--limit N``
uses every k-th image for quick checks; ``--scale S`` enlarges every photo and its masks
(the same composites at a user's photo size);
``--colour grey|warm|cool|R,G,B`` turns every photo grey-scale or multiplies its channels
(warm = 1.2,1.0,0.72; cool = 0.8,1.0,1.25): the same composites as photos unlike the bench's.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
from pathlib import Path

import cv2
import numpy as np
from options import parse_options
from timing import timed_in_turn

from s3pot.eval.metrics import score_image, summarize
from s3pot.image_io import load_image
from s3pot.pipeline import PipelineConfig, S3potPredictor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench"))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--pipeline", nargs="*", default=[], metavar="KEY=VALUE",
                    help="PipelineConfig fields (e.g. remesh=false)")
    ap.add_argument("--limit", type=int, default=0, help="use every k-th image")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="enlarge every photo (bicubic) and its masks by this factor: the bench's "
                         "frames are ~200 px, users' photos are megapixels")
    ap.add_argument("--colour", default=None, metavar="grey|warm|cool|R,G,B",
                    help="convert every photo: grey-scale, or channel gains (a colour cast)")
    ap.add_argument("--reference-model", help="PCA reference model (default: the shipped one)")
    ap.add_argument("--generator-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="reference generator keyword arguments (e.g. prior=30)")
    args = ap.parse_args(argv)
    try:
        recolour = _recolour(args.colour)
    except ValueError as exc:
        ap.error(str(exc))
    bench = Path(args.bench)
    if not (bench / "images").is_dir():
        print(f"benchmark not found at {bench}", file=sys.stderr)
        return 2
    rows = list(csv.DictReader(open(bench / "families.csv")))
    families = {r["name"]: r["family"] for r in rows}
    # The procedural occluders' texture (a crop of another person's face, of a photo, or
    # colour noise): a face crop is the hardest kind for a method that looks for non-face.
    textures = {r["name"]: _texture(r.get("details", "")) for r in rows}
    names = sorted(p.stem for p in (bench / "images").glob("*.png"))
    if args.limit:
        names = names[:: args.limit]
    gen_kwargs = {"model": args.reference_model} if args.reference_model else {}
    gen_kwargs.update(parse_options(args.generator_set))
    pred = S3potPredictor(PipelineConfig(align_size=args.size, generator_kwargs=gen_kwargs,
                                         backbone_kwargs=parse_options(args.set),
                                         **parse_options(args.pipeline)))
    mesh = pred.detector._mesh  # the raw face-mesh call, timed as the baseline
    # ... and mediapipe's face mesh with its default options (one face, 468 points, no iris
    # refinement): a cheaper call, so the stricter ratio of the two.
    import mediapipe as mp

    plain = mp.solutions.face_mesh.FaceMesh(static_image_mode=True)
    first = recolour(_scaled(load_image(bench / "images" / f"{names[0]}.png"), args.scale))
    pred.segment(first)  # warm up every stage
    plain.process(first)
    scores, by_family, t_pipe, t_mesh, t_plain, missed = [], {}, [], [], [], 0
    outside: dict[str, tuple[int, int]] = {}  # name -> (truth pixels, of them outside M)
    for name in names:
        image = recolour(_scaled(load_image(bench / "images" / f"{name}.png"), args.scale))
        gt = _scaled(load_image(bench / "masks" / f"{name}.png")[..., 0], args.scale) > 127
        face = _scaled(load_image(bench / "face" / f"{name}.png")[..., 0], args.scale) > 127
        (_, result, _), (tm, tp, td) = timed_in_turn(
            (mesh.process, pred.segment, plain.process), image)
        t_mesh.append(tm)
        t_pipe.append(tp)
        t_plain.append(td)
        missed += not result.faces
        s = score_image(name, result.occlusion, gt, face=face)
        outside[name] = (int(gt.sum()), int((gt & ~result.face_region).sum()))
        scores.append(s)
        by_family.setdefault(families.get(name, "?"), []).append(s)
        if textures.get(name):
            by_family.setdefault(f"texture={textures[name]}", []).append(s)
    total = summarize(scores)
    print(f"images: {len(names)}  no face found: {missed}")
    print("| set | occluder IoU | mean IoU | precision | recall | clean FP | truth outside M |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for fam, ss in [("all", scores)] + sorted(by_family.items(), key=lambda kv: (kv[0].startswith("texture="), kv[0])):
        m = total if fam == "all" else summarize(ss)
        print(f"| {fam} | {fmt(m['occluder_iou'])} | {fmt(m['mean_iou'])} | {fmt(m['precision'])} "
              f"| {fmt(m['recall'])} | {fmt(m['clean_fp_rate'])} "
              f"| {fmt(outside_share([outside[x.name] for x in ss]))} |")
    med_p, med_m = float(np.median(t_pipe)), float(np.median(t_mesh))
    print(f"median time per photo: s3pot {med_p * 1e3:.1f} ms, face mesh {med_m * 1e3:.1f} ms, "
          f"ratio {med_p / med_m:.2f}")
    med_d = float(np.median(t_plain))
    print(f"  against FaceMesh() with default options ({med_d * 1e3:.1f} ms): ratio {med_p / med_d:.2f}")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


def outside_share(counts: list[tuple[int, int]]) -> float | None:
    """Share of the ground-truth occlusion pixels that lie outside the pipeline's face
    region M, pooled over ``(truth pixels, of them outside M)`` pairs (None without
    truth). Why: the segmenters only label pixels of M, so this is recall no segmenter
    can reach; what is outside is the landmark outline's error against the benchmark's
    face region F, not the segmenter's."""
    total = sum(t for t, _ in counts)
    return None if total == 0 else sum(o for _, o in counts) / total


def _texture(details: str) -> str | None:
    """The ``texture=`` entry of a families.csv ``details`` field (``texture=face;edge=soft``)."""
    for part in (details or "").split(";"):
        key, _, value = part.partition("=")
        if key.strip() == "texture" and value.strip():
            return value.strip()
    return None


CASTS = {"warm": (1.2, 1.0, 0.72), "cool": (0.8, 1.0, 1.25)}


def _recolour(spec: str | None):
    """The photo conversion ``--colour`` names (identity for None)."""
    if spec is None:
        return lambda image: image
    if spec == "grey":
        return lambda image: np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    try:
        gains = np.array(CASTS[spec] if spec in CASTS else [float(v) for v in spec.split(",")], np.float32)
    except ValueError:
        gains = np.zeros(0)
    if gains.shape != (3,) or (gains <= 0).any():
        raise ValueError(f"--colour {spec!r}: use grey, warm, cool or three positive gains R,G,B")
    return lambda image: np.clip(image.astype(np.float32) * gains + 0.5, 0, 255).astype(np.uint8)


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` enlarged by ``scale``: bicubic for photos, bilinear for masks (thresholded
    by the caller, so a mask's edge stays where it was drawn)."""
    if scale == 1.0:
        return image
    flags = cv2.INTER_CUBIC if image.ndim == 3 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=flags)


if __name__ == "__main__":
    sys.exit(main())
