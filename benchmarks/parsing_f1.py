"""Parsing F1 against CelebAMask-HQ label maps (default: the 4 samples in ../shared).

The photo (1024 px) is area-downscaled to its label map's size (512 px), the pipeline finds
the face, aligns it and parses it in the aligned frame, and the parsing is mapped back to
the photo frame with the alignment's exact inverse (nearest label). CelebAMask-HQ's 19 ids
are mapped to our 12 classes as E4S does (hat, necklace and cloth count as background).
F1 (Dice) per class, pooled over the images; a class absent from both prediction and
ground truth is reported as n/a.

    python benchmarks/parsing_f1.py [CELEBAMASK_DIR] [--size 256|512|1024]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from s3pot.parsing.base import CLASSES

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "celebamask_hq"

# CelebAMask-HQ id -> our class id (see s3pot.parsing.base.CLASSES).
CELEBAMASK_TO_OURS = {
    1: 6,  # skin
    2: 5,  # nose
    3: 10,  # eye_g -> eyeglasses
    4: 3, 5: 3,  # l_eye, r_eye -> eyes
    6: 2, 7: 2,  # l_brow, r_brow -> eyebrows
    8: 7, 9: 7,  # l_ear, r_ear -> ears
    10: 9,  # mouth (inner mouth)
    11: 1, 12: 1,  # u_lip, l_lip -> lip
    13: 4,  # hair
    15: 11,  # ear_r -> earrings
    17: 8,  # neck
}  # 14 hat, 16 neck_l (necklace), 18 cloth -> 0 background
_LUT = np.zeros(256, np.uint8)
for _src, _dst in CELEBAMASK_TO_OURS.items():
    _LUT[_src] = _dst


def celebamask_to_ours(labels: np.ndarray) -> np.ndarray:
    return _LUT[np.asarray(labels, np.uint8)]


def parse_in_photo(predictor, image: np.ndarray) -> tuple[np.ndarray, int]:
    """Every face's parsing mapped back to the photo frame; returns (labels, faces)."""
    h, w = image.shape[:2]
    out = np.zeros((h, w), np.uint8)
    faces = predictor.prepare(image, reference=False)
    for f in faces:
        lab = cv2.warpAffine(f.parsing, f.transform.matrix, (w, h),
                             flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[lab > 0] = lab[lab > 0]
    return out, len(faces)


def samples(root: Path) -> list[tuple[str, Path, Path]]:
    out = []
    for label_path in sorted(root.glob("*.png")):
        photo = next((root / f"{label_path.stem}{s}" for s in (".jpg", ".jpeg")
                      if (root / f"{label_path.stem}{s}").is_file()), None)
        if photo is not None:
            out.append((label_path.stem, photo, label_path))
    return out


def measure(root: Path, predictor=None, align_size: int = 256) -> dict:
    """Per-image and pooled per-class F1. Returns ``{"pooled": {cls: f1|None}, "images":
    {name: {cls: f1|None}}, "faces": {name: n}}``."""
    from s3pot.image_io import load_image
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    if predictor is None:
        predictor = S3potPredictor(PipelineConfig(align_size=align_size))
    pairs = samples(root)
    if not pairs:
        raise FileNotFoundError(f"{root}: no N.jpg + N.png pairs")
    n = len(CLASSES)
    inter, pred_sum, gt_sum = np.zeros(n), np.zeros(n), np.zeros(n)
    images, faces = {}, {}
    for name, photo_path, label_path in pairs:
        gt = celebamask_to_ours(np.asarray(Image.open(label_path)))
        photo = load_image(photo_path)
        if photo.shape[:2] != gt.shape:
            photo = cv2.resize(photo, gt.shape[::-1], interpolation=cv2.INTER_AREA)
        pred, faces[name] = parse_in_photo(predictor, photo)
        row = {}
        for c in range(n):
            p, g = pred == c, gt == c
            i, ps, gs = int((p & g).sum()), int(p.sum()), int(g.sum())
            inter[c] += i
            pred_sum[c] += ps
            gt_sum[c] += gs
            row[CLASSES[c]] = 2 * i / (ps + gs) if ps + gs else None
        images[name] = row
    pooled = {CLASSES[c]: (2 * inter[c] / (pred_sum[c] + gt_sum[c]) if pred_sum[c] + gt_sum[c] else None)
              for c in range(n)}
    return {"pooled": pooled, "images": images, "faces": faces}


def _fmt(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:5.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--size", type=int, default=256, choices=(256, 512, 1024))
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        print(f"parsing_f1: {args.root}: no such folder", file=sys.stderr)
        return 2
    res = measure(args.root, align_size=args.size)
    names = list(res["images"])
    print(f"CelebAMask-HQ parsing F1 ({len(names)} images, aligned size {args.size}, "
          f"faces found: {sum(res['faces'].values())})")
    print(f"{'class':<12} {'pooled':>6} " + " ".join(f"{n:>5}" for n in names))
    for cls in CLASSES:
        row = [res["images"][n][cls] for n in names]
        print(f"{cls:<12} {_fmt(res['pooled'][cls]):>6} " + " ".join(_fmt(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
