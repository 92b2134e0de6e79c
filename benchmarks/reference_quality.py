"""How well a reference generator restores occluded faces, on the developers' bench.

For every bench photo: detect the face (MediapipeFaceMesh, timed), align at ``--size``,
parse with the landmark parser, run the generator (timed), paste the reference back into
the photo, and score it in the photo frame against the bench's ground truth:

- restoration: inside the GT occlusion, MAE(reference, clean) / MAE(input, clean)
  (pooled over all occluded pixels; per-image median also shown). Target <= 0.35.
- fidelity: on visible face pixels (face region F minus occlusion), MAE(reference, input)
  in grey levels. Target <= 10, on occluded photos and on the clean ones.
- occlusion AUROC of (1 - confidence) on F pixels: how well the confidence map separates
  occluded from visible face (what the segmenter's prompts rely on).
- speed: median generate() time per face, and its median ratio to the face-mesh call on
  the same photo in the same run.

Usage::

    python benchmarks/reference_quality.py --sheet /tmp/sheet.png [--model M.npz]

The picture sheet (input | reference | clean | confidence, a few photos per occluder
family) is written to ``--sheet``; keep it out of the repository.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from options import parse_options

DEFAULT_BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench"


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for binary ``label`` (rank formula, ties
    averaged)."""
    from scipy.stats import rankdata

    pos = label.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def load_mask(path: Path) -> np.ndarray:
    from s3pot.image_io import load_image

    return load_image(path)[..., 0] > 127


def score_reference(ref, tr, img: np.ndarray, clean: np.ndarray, gt: np.ndarray,
                    face_f: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """Scores of one reference pasted into the photo frame; also the pasted photo and the
    confidence in the photo frame (for the sheet)."""
    size = ref.image.shape[0]
    valid = tr.to_photo_mask(np.ones((size, size), np.float32), img.shape, soft=True)
    fi = img.astype(np.float32)
    fc = clean.astype(np.float32)
    visible = face_f & ~gt
    pasted = tr.to_photo_image(ref.image.astype(np.float32), img.shape)
    vis = np.clip(valid, 0, 1)[..., None]
    out = vis * pasted + (1 - vis) * fi
    conf = tr.to_photo_mask(ref.confidence, img.shape, soft=True)
    conf = np.where(valid > 0.5, conf / np.maximum(valid, 1e-6), 1.0)
    rec: dict = {}
    if gt.any():
        rec["err_ref"] = float(np.abs(out - fc)[gt].mean(1).sum())
        rec["err_in"] = float(np.abs(fi - fc)[gt].mean(1).sum())
        rec["n_occ"] = int(gt.sum())
        rec["auroc"] = auroc(1 - conf[face_f], gt[face_f])
        rec["conf_occ"] = float(conf[gt].mean())
    rec["fid"] = float(np.abs(out - fi)[visible].mean()) if visible.any() else float("nan")
    rec["conf_vis"] = float(conf[visible].mean()) if visible.any() else float("nan")
    rec["n_vis"] = int(visible.sum())
    rec["n_low"] = int((conf[visible] < 0.5).sum())
    return rec, out, conf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--model", default=None, help="PCA model .npz (default: the shipped one)")
    ap.add_argument("--generator", default="pca")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="generator keyword argument (numbers are parsed), repeatable")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N photos")
    ap.add_argument("--sheet", type=Path, default=None, help="write a picture sheet here (PNG)")
    ap.add_argument("--sheet-per-family", type=int, default=2)
    ap.add_argument("--restore", choices=("segmenter", "truth"), default=None,
                    help="also score the reference regenerated knowing the occlusion "
                         "(generator.restore: what `s3pot segment --save-reference` writes), "
                         "under the offline segmenter's mask (no hand hints) or under the "
                         "ground truth (the model's own limit; a diagnostic, not a method)")
    args = ap.parse_args(argv)

    from s3pot.faces.align import ffhq_quad, transform_from_quad
    from s3pot.faces.base import alignment_points
    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh
    from s3pot.image_io import load_image, save_image
    from s3pot.parsing.landmarks import parse_landmarks
    from s3pot.reference.base import build_generator, restoration_mask

    bench = args.bench
    if not (bench / "families.csv").exists():
        print(f"bench not found at {bench} (expects families.csv, images/, clean/, masks/, face/)",
              file=sys.stderr)
        return 2
    rows = list(csv.DictReader(open(bench / "families.csv", encoding="utf-8")))
    if args.limit:
        rows = rows[: args.limit]
    kw: dict = {"model": args.model} if args.model else {}
    kw.update(parse_options(args.option))
    gen = build_generator(args.generator, **kw)
    segmenter = None
    if args.restore == "segmenter":
        from s3pot.segmenters.offline import OfflineSegmenter
        from s3pot.types import FaceResult

        segmenter = OfflineSegmenter()
    det = MediapipeFaceMesh()
    warm = load_image(bench / "images" / f"{rows[0]['name']}.png")
    det.detect(warm)  # graph warm-up, not timed

    per: list[dict] = []
    per_restored: list[dict] = []
    sheet_rows: dict[str, list[np.ndarray]] = {}
    missed = 0
    for row in rows:
        name, fam = row["name"], row["family"]
        img = load_image(bench / "images" / f"{name}.png")
        clean = load_image(bench / "clean" / f"{name}.png")
        gt = load_mask(bench / "masks" / f"{name}.png")
        face_f = load_mask(bench / "face" / f"{name}.png")
        t0 = time.perf_counter()
        faces = det.detect(img)
        t_mesh = time.perf_counter() - t0
        if not faces:
            missed += 1
            continue
        # The bench face is the one whose landmarks fall most inside F.
        def inside(f, face_f=face_f):
            p = np.round(f.landmarks).astype(int)
            ok = (p[:, 0] >= 0) & (p[:, 0] < face_f.shape[1]) & (p[:, 1] >= 0) & (p[:, 1] < face_f.shape[0])
            return face_f[p[ok, 1], p[ok, 0]].mean() if ok.any() else 0.0
        face = max(faces, key=inside)
        tr = transform_from_quad(ffhq_quad(*alignment_points(face.landmarks)), args.size)
        aligned = tr.warp_image(img)
        lm = tr.to_aligned(face.landmarks)
        parsing = parse_landmarks(lm, args.size)
        t0 = time.perf_counter()
        ref = gen.generate(aligned, lm, parsing)
        t_gen = time.perf_counter() - t0
        rec, out, conf = score_reference(ref, tr, img, clean, gt, face_f)
        rec.update(name=name, family=fam, t_mesh=t_mesh, t_gen=t_gen)
        if args.restore:
            if segmenter is not None:
                fr = FaceResult(face=face, transform=tr, aligned=aligned, landmarks_aligned=lm,
                                parsing=parsing, reference=ref.image, confidence=ref.confidence)
                occ = restoration_mask(segmenter.segment(fr).occlusion)  # as the pipeline does
            else:
                occ = tr.warp_image(np.repeat(gt[..., None].astype(np.uint8) * 255, 3, 2))[..., 0] / 255.0
            rec2, out_restored, _ = score_reference(
                gen.restore(aligned, lm, parsing, occ.astype(np.float32)), tr, img, clean, gt, face_f)
            per_restored.append({**rec2, "name": name, "family": fam})
        per.append(rec)
        if args.sheet and len(sheet_rows.get(fam, [])) < args.sheet_per_family:
            extra = [np.clip(out_restored + 0.5, 0, 255).astype(np.uint8)] if args.restore else []
            tiles = [img, np.clip(out + 0.5, 0, 255).astype(np.uint8), *extra, clean,
                     np.repeat((np.clip(conf, 0, 1) * 255).astype(np.uint8)[..., None], 3, 2)]
            h = 160
            tiles = [cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h)) for t in tiles]
            sheet_rows.setdefault(fam, []).append(np.hstack(tiles))

    def table_line(label: str, recs: list[dict]) -> str:
        occ = [r for r in recs if "err_ref" in r]
        ratio = (sum(r["err_ref"] for r in occ) / max(sum(r["err_in"] for r in occ), 1e-9)) if occ else float("nan")
        med = float(np.median([r["err_ref"] / r["err_in"] for r in occ])) if occ else float("nan")
        fid = np.nanmean([r["fid"] for r in recs])
        au = np.nanmean([r["auroc"] for r in occ]) if occ else float("nan")
        co = np.nanmean([r["conf_occ"] for r in occ]) if occ else float("nan")
        cv = np.nanmean([r["conf_vis"] for r in recs])
        low = sum(r["n_low"] for r in recs) / max(sum(r["n_vis"] for r in recs), 1)
        return (f"| {label:<13} | {len(recs):>3} | {ratio:6.3f} | {med:6.3f} | {fid:6.2f} | "
                f"{au:5.3f} | {co:5.2f} | {cv:5.2f} | {low:5.3f} |")

    print(f"bench: {bench.resolve()}  generator: {args.generator}  size: {args.size}  "
          f"photos: {len(rows)}  face missed: {missed}")
    print("| set           |   n | restor | r.med  | fidel  | AUROC | c.occ | c.vis | c<0.5 |")
    print("|---------------|-----|--------|--------|--------|-------|-------|-------|-------|")
    fams = sorted({r["family"] for r in per})
    for fam in fams:
        print(table_line(fam, [r for r in per if r["family"] == fam]))
    print(table_line("occluded (all)", [r for r in per if r["family"] != "clean"]))
    print(table_line("clean (all)", [r for r in per if r["family"] == "clean"]))
    if per_restored:
        print(f"restored knowing the occlusion (generator.restore, mask: {args.restore}):")
        for fam in fams:
            print(table_line(fam, [r for r in per_restored if r["family"] == fam]))
        print(table_line("occluded (all)", [r for r in per_restored if r["family"] != "clean"]))
        print(table_line("clean (all)", [r for r in per_restored if r["family"] == "clean"]))
    tg = np.array([r["t_gen"] for r in per]) * 1e3
    tm = np.array([r["t_mesh"] for r in per]) * 1e3
    print(f"speed: generate median {np.median(tg):.2f} ms (p90 {np.percentile(tg, 90):.2f}), "
          f"face mesh median {np.median(tm):.2f} ms, median ratio generate/mesh "
          f"{np.median(tg / tm):.2f}")
    print("restor = MAE(ref,clean)/MAE(input,clean) inside GT (pooled; r.med per-image median, "
          "target <= 0.35); fidel = MAE(ref,input) on visible F, grey levels (target <= 10); "
          "AUROC of 1-confidence for GT on F; c.occ / c.vis = mean confidence on GT / visible F; "
          "c<0.5 = fraction of visible F pixels (pooled) with confidence below 0.5 (on the clean "
          "rows: how much clean face the generator rejects)")
    if args.sheet and sheet_rows:
        blocks = [r for fam in sorted(sheet_rows) for r in sheet_rows[fam]]
        w = max(b.shape[1] for b in blocks)
        blocks = [np.pad(b, ((0, 4), (0, w - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
        save_image(args.sheet, np.vstack(blocks))
        cols = "input | reference | restored | clean | confidence" if args.restore else \
            "input | reference | clean | confidence"
        print(f"sheet ({cols}): {args.sheet}")
    det.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
