"""``s3pot synth``: composite occluders onto face photos -> an evaluation dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="make a synthetic occlusion dataset from face photos and occluder cut-outs",
        description="RealOcc-style compositing: RGBA cut-outs from OCCLUDERS_DIR (placed by "
        "name: glasses on the eyes, hats on the forehead, masks on the lower face, others "
        "anywhere) and procedural polygons / ellipses / bars (noise, photo-crop or flat "
        "textures; hard or soft edges) on the largest face of each photo, lighting matched. "
        "Writes OUT/images, OUT/masks (GT = alpha > 0.5 inside the face region), OUT/face "
        "and OUT/groups.csv. Deterministic for a seed.",
    )
    p.add_argument("faces_dir", metavar="FACES_DIR")
    p.add_argument("occluders_dir", metavar="OCCLUDERS_DIR")
    p.add_argument("-o", "--out", required=True, metavar="OUT")
    p.add_argument("-n", "--count", type=int, help="composites to write (default: one per photo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clean-fraction", type=float, default=0.15, help="share left unoccluded")
    p.add_argument("--only", help="comma-separated kinds to use (cut-out names, their placement "
                   "kind such as glasses or hat, proc_poly, proc_ellipse, proc_bar)")
    p.add_argument("--exclude", help="comma-separated kinds to leave out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3pot.errors import S3potError
    from s3pot.eval.synth.generate import synthesize_folder

    def split(text: str | None) -> list[str] | None:
        return None if text is None else [t.strip() for t in text.split(",") if t.strip()]

    from s3pot.cli.batch import output_folder_problem

    unusable = output_folder_problem(Path(args.out))
    if unusable:
        raise SystemExit(f"s3pot synth: {args.out}: {unusable}")
    if not 0.0 <= args.clean_fraction <= 1.0:
        raise SystemExit("s3pot synth: --clean-fraction must be in [0, 1]")
    if args.count is not None and args.count < 1:
        raise SystemExit("s3pot synth: --count must be at least 1")
    log = (lambda m: None) if args.quiet else (
        lambda m: print(f"s3pot synth: {m}", file=sys.stderr, flush=True))
    try:
        summary = synthesize_folder(args.faces_dir, args.occluders_dir, args.out, args.count,
                                    args.seed, args.clean_fraction, split(args.only),
                                    split(args.exclude), progress=log)
    except (S3potError, ValueError) as exc:
        raise SystemExit(f"s3pot synth: {exc}") from None
    if summary.skipped_sources:
        log(f"no face found in {len(summary.skipped_sources)} photo(s): "
            + ", ".join(summary.skipped_sources[:5]) + (" ..." if len(summary.skipped_sources) > 5 else ""))
    groups = ", ".join(f"{g} {n}" for g, n in sorted(summary.groups.items()))
    print(f"wrote {summary.written} composites to {args.out} ({groups})")
    return 0
