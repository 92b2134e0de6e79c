"""Face masks, an occluder kind the dev benchmark does not have, on real faces.

    python benchmarks/mask_occluders.py [--faces ../shared/data/real/aligned_512]
        [--compare gain=median,start=uniform]

A flat mask (light blue, white, black or skin-beige, with a soft vertical shading; see
``s3pot.eval.synth.masks``) is drawn over the lower face of every photo: the face-mesh oval
below the nose bridge. Ground truth
is that polygon inside the face region the pipeline reports (nothing else is scored, so
the face stage's own region is not judged here). Prints pooled occluder IoU per mask colour
and overall, and how many masked faces the face stage still finds. ``--compare`` runs the
same photos again with other reference-generator options in the same process (the row
"compare"), e.g. the exposure and start of the robust fit before they came from skin texels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from options import parse_options

from s3pot.eval.synth.masks import MASK_COLOURS, draw_mask, mask_polygon
from s3pot.image_io import find_images, load_image
from s3pot.pipeline import PipelineConfig, S3potPredictor


def run(photos: list[Path], options: dict) -> tuple[dict[str, list[int]], int, int]:
    """Per colour [intersection, union]; faces found; masked photos."""
    pred = S3potPredictor(PipelineConfig(generator_kwargs=options))
    names = list(MASK_COLOURS)
    acc = {k: [0, 0] for k in names}
    found = total = 0
    for i, path in enumerate(photos):
        image = load_image(path)
        faces = pred.prepare(image, reference=False)
        if not faces:
            continue  # no face on the unmasked photo: nothing to mask
        colour = names[i % len(names)]
        masked, m = draw_mask(image, mask_polygon(faces[0].face.landmarks), MASK_COLOURS[colour])
        result = pred.segment(masked)
        total += 1
        found += bool(result.faces)
        gt = m & result.face_region if result.faces else m
        acc[colour][0] += int((result.occlusion & gt).sum())
        acc[colour][1] += int((result.occlusion | gt).sum())
    return acc, found, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                                           / "real" / "aligned_512"))
    ap.add_argument("--compare", default="", help="KEY=VALUE,... reference-generator options for a second run")
    args = ap.parse_args(argv)
    photos, _ = find_images([args.faces])
    if not photos:
        print(f"no photos under {args.faces}", file=sys.stderr)
        return 2
    runs = [("default", {})] + ([("compare", parse_options(args.compare.split(",")))] if args.compare else [])
    print("| run | " + " | ".join(MASK_COLOURS) + " | all | faces found |")
    print("|---|" + "---|" * (len(MASK_COLOURS) + 2))
    for label, opts in runs:
        acc, found, total = run(photos, opts)
        cells = [f"{i / u:.3f}" if u else "-" for i, u in acc.values()]
        inter, union = (sum(v[j] for v in acc.values()) for j in (0, 1))
        print(f"| {label} {opts or ''} | " + " | ".join(cells) + f" | {inter / max(union, 1):.3f} | {found}/{total} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
