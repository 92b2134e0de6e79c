"""Face masks, an occluder kind the dev benchmark does not have, on real faces.

    python benchmarks/mask_occluders.py [--faces ../shared/data/real/aligned_512]
        [--compare gain=median,start=uniform]

A flat mask (light blue, white, black or skin-beige, with a soft vertical shading) is drawn
over the lower face of every photo: the face-mesh oval below the nose bridge. Ground truth
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

import cv2
import numpy as np

from s3pot.faces.topology import parts
from s3pot.image_io import find_images, load_image
from s3pot.pipeline import PipelineConfig, S3potPredictor

COLOURS = {"light blue": (170, 200, 225), "white": (235, 235, 235), "black": (40, 40, 45),
           "beige": (200, 160, 140)}
BRIDGE = 197  # face-mesh vertex on the nose bridge: the mask's upper edge


def mask_polygon(landmarks: np.ndarray) -> np.ndarray:
    """Convex hull of the mesh oval points below the nose bridge (photo pixels)."""
    oval = landmarks[parts()["oval"]]
    below = oval[oval[:, 1] > landmarks[BRIDGE, 1]]
    return cv2.convexHull(below.astype(np.float32))[:, 0]


def put_mask(image: np.ndarray, poly: np.ndarray, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The photo with a shaded flat mask inside ``poly``, and the mask (bool)."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
    shade = np.linspace(0.9, 1.05, h, dtype=np.float32)[:, None, None]
    fill = np.clip(np.array(colour, np.float32) * shade, 0, 255)
    out = np.where(m[..., None] > 0, fill, image.astype(np.float32))
    return out.astype(np.uint8), m > 0


def run(photos: list[Path], options: dict) -> tuple[dict[str, list[int]], int, int]:
    """Per colour [intersection, union]; faces found; masked photos."""
    pred = S3potPredictor(PipelineConfig(generator_kwargs=options))
    names = list(COLOURS)
    acc = {k: [0, 0] for k in names}
    found = total = 0
    for i, path in enumerate(photos):
        image = load_image(path)
        faces = pred.prepare(image, reference=False)
        if not faces:
            continue  # no face on the unmasked photo: nothing to mask
        colour = names[i % len(names)]
        masked, m = put_mask(image, mask_polygon(faces[0].face.landmarks), COLOURS[colour])
        result = pred.segment(masked)
        total += 1
        found += bool(result.faces)
        gt = m & result.face_region if result.faces else m
        acc[colour][0] += int((result.occlusion & gt).sum())
        acc[colour][1] += int((result.occlusion | gt).sum())
    return acc, found, total


def _options(text: str) -> dict:
    out: dict = {}
    for item in filter(None, text.split(",")):
        k, v = item.split("=", 1)
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


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
    runs = [("default", {})] + ([("compare", _options(args.compare))] if args.compare else [])
    print("| run | " + " | ".join(COLOURS) + " | all | faces found |")
    print("|---|" + "---|" * (len(COLOURS) + 2))
    for label, opts in runs:
        acc, found, total = run(photos, opts)
        cells = [f"{i / u:.3f}" if u else "-" for i, u in acc.values()]
        inter, union = (sum(v[j] for v in acc.values()) for j in (0, 1))
        print(f"| {label} {opts or ''} | " + " | ".join(cells) + f" | {inter / max(union, 1):.3f} | {found}/{total} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
