"""``s3pot fit-reference FACES_DIR -o MODEL``: fit the PCA face model of the ``pca`` generator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-reference",
        help="fit the reference generator's face model on a folder of face photos",
        description="Detects the face in every photo under FACES_DIR (photos without a whole "
        "face are skipped), aligns it, and fits the PCA face model that the 'pca' reference "
        "generator uses. Deterministic for a seed. Writes an .npz model (atomically).",
    )
    p.add_argument("faces_dir", metavar="FACES_DIR", help="folder of face photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.npz)")
    p.add_argument("--components", type=int, default=64, help="texture basis size (default 64)")
    p.add_argument("--grid", type=int, default=64, help="shape-free texels along the long side (default 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (calibration split, PCA)")
    p.add_argument("--exclude", metavar="FILE", default=None,
                   help="text file of photo names or stems to leave out (one per line), e.g. "
                   "the source frames of a benchmark")
    p.add_argument("--residual-scale", default="p70", metavar="rms|median|pNN",
                   help="how held-out clean residuals become per-texel scales (default p70: the "
                   "70th percentile, robust to calibration frames with hair or hands on the face)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3pot.reference.fit import TooFewFaces, fit_folder

    folder = Path(args.faces_dir)
    if not folder.is_dir():
        print(f"s3pot fit-reference: {folder}: not a folder", file=sys.stderr)
        return 2
    if not str(args.output).endswith(".npz"):
        print(f"s3pot fit-reference: {args.output}: the model file name must end in .npz",
              file=sys.stderr)
        return 2
    exclude = None
    if args.exclude:
        lines = Path(args.exclude).read_text(encoding="utf-8").splitlines()
        exclude = {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
    try:
        summary = fit_folder(folder, args.output, components=args.components, grid=args.grid,
                             seed=args.seed, exclude=exclude, progress=not args.quiet,
                             scale=args.residual_scale)
    except (FileNotFoundError, ValueError) as exc:
        for name, why in exc.skipped if isinstance(exc, TooFewFaces) else []:
            print(f"skipped {name}: {why}", file=sys.stderr)
        print(f"s3pot fit-reference: {exc}", file=sys.stderr)
        return 1
    for name, why in summary["skipped"]:
        print(f"skipped {name}: {why}", file=sys.stderr)
    print(f"{args.output}: {summary['n_faces']} faces of {summary['n_images']} photos "
          f"({summary['n_skipped']} skipped), {summary['components']} components, "
          f"{summary['seconds']} s")
    return 0
