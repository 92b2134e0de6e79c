"""Where the offline segmenter's evidence dies: each stage's map under the truth, per family.

    python benchmarks/evidence_stages.py [--bench ../shared/data/bench] [--limit K]
        [--set key=value ...]

The default segmenter builds its occlusion score in stages (s3pot.segmenters.offline):
the generator's rejection and the photo-vs-reference distance above what clean faces show,
the screened prompt field, their weighted sum (``contrast``), the colour models' log-ratio,
missing structure, and the score after the edge snapping. With ``keep_maps`` it returns
every map (``extras[STAGE_MAPS]``). For each occluder family this prints the mean of each
map over the ground-truth occlusion inside M (``occ``) and over the visible face inside M
(``vis``), pooled over pixels, in the decoder's frame; and the share of the truth inside
M that ends flagged (``found``). A family whose ``difference`` is already low under the
truth is one the reference reproduces (the generator's problem, not the decoder's); one
with a high contrast and a negative colour term is one the colour models talk out of.

Measured 2026-12-04, straw hats (occ / vis): on the dev bench (``--limit 2``) confidence
0.42 / 0.01, difference 0.60 / 0.04, colour 2.37 / -3.21, 80 % of the truth in M found; on
120 composites of the 20 aligned real faces (``s3pot synth ../shared/data/real/aligned_512
../shared/data/occluders -n 120 --seed 7``, read through its groups.csv) confidence 0.02 / 0.01, difference 0.08 / 0.05, colour -1.88 /
-2.69, 6 % found. There the reference already holds the brim: the face model fits those
blurred faces' upper forehead in the brim's colour, so no later stage has anything to find.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np
from options import parse_options

from s3pot.image_io import load_image
from s3pot.pipeline import PipelineConfig, S3potPredictor
from s3pot.segmenters.base import STAGE_MAPS

DEFAULT_BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench"


def truth_in_frame(truth: np.ndarray, face, size: int) -> np.ndarray:
    """The photo-frame truth mask (bool) in the face's aligned frame, resized to ``size``."""
    aligned = face.transform.warp_image(truth.astype(np.uint8) * 255, cv2.INTER_LINEAR)
    return cv2.resize(aligned, (size, size), interpolation=cv2.INTER_AREA) > 127


def accumulate(sums: dict, maps: dict[str, np.ndarray], truth: np.ndarray) -> None:
    """Add one face's map sums over occluded and visible pixels of M to ``sums``
    (name -> [sum under truth, sum on visible face]; counts under "_n")."""
    region = maps["region"] > 0.5
    occ, vis = region & truth, region & ~truth
    n = sums.setdefault("_n", np.zeros(2))
    n += (occ.sum(), vis.sum())
    for name, m in maps.items():
        if name == "region":
            continue
        s = sums.setdefault(name, np.zeros(2))
        s += (float(m[occ].sum()), float(m[vis].sum()))


def table(by_family: dict[str, dict]) -> list[str]:
    """Markdown rows: per family, ``occ / vis`` means of every stage map."""
    names = [k for k in next(iter(by_family.values())) if k not in ("_n", "occluded")]
    head = "| family | pixels occ / vis | " + " | ".join(names) + " | found |"
    rows = [head, "|" + "---|" * (len(names) + 3)]
    for fam, sums in sorted(by_family.items()):
        n = sums["_n"]
        mean = {k: v / np.maximum(n, 1) for k, v in sums.items() if k != "_n"}
        cells = [f"{mean[k][0]:.2f} / {mean[k][1]:.2f}" if n[0] else f"- / {mean[k][1]:.2f}"
                 for k in names]
        found = f"{mean['occluded'][0]:.2f}" if n[0] else "-"
        rows.append(f"| {fam} | {int(n[0])} / {int(n[1])} | " + " | ".join(cells) + f" | {found} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(DEFAULT_BENCH))
    ap.add_argument("--limit", type=int, default=0, help="use every k-th image")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="OfflineParams fields (keep_maps is always on)")
    args = ap.parse_args(argv)
    bench = Path(args.bench)
    # The dev bench names families in families.csv; ``s3pot synth`` writes groups.csv.
    listing = next((bench / f for f in ("families.csv", "groups.csv") if (bench / f).is_file()), None)
    if not (bench / "images").is_dir() or listing is None:
        print(f"benchmark not found at {bench} (needs images/, masks/ and families.csv "
              "or groups.csv)", file=sys.stderr)
        return 2
    families = {r["name"]: r.get("family") or r.get("group") or "?"
                for r in csv.DictReader(open(listing))}
    names = sorted(p.stem for p in (bench / "images").glob("*.png"))
    if args.limit:
        names = names[:: args.limit]
    params = {**parse_options(args.set), "keep_maps": True}
    pred = S3potPredictor(PipelineConfig(align_size=256, backbone_kwargs=params))
    by_family: dict[str, dict] = {}
    for name in names:
        truth = load_image(bench / "masks" / f"{name}.png")[..., 0] > 127
        result = pred.segment(load_image(bench / "images" / f"{name}.png"))
        for face in result.faces:
            maps = face.extras.get(STAGE_MAPS)
            if maps is None:
                continue
            accumulate(by_family.setdefault(families.get(name, "?"), {}), maps,
                       truth_in_frame(truth, face, maps["region"].shape[0]))
    if not by_family:
        print("no face was segmented", file=sys.stderr)
        return 1
    print(f"bench: {bench}  photos: {len(names)}")
    print("\n".join(table(by_family)))
    print("each cell: mean over the truth inside M / over the visible face inside M "
          "(decoder frame); found: share of the truth inside M flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
