"""Pixel evidence of occlusion, and what clean faces look like under it.

Two maps come out of the reference stage: ``1 - confidence`` (the face model rejects the
pixel) and the colour distance between photo and reference. Neither is zero on a clean
face: eyes, mouth corners, the jaw line and strongly lit cheeks are hard for any face model.
The *evidence prior* records, per pixel of the aligned frame, how much evidence clean faces
show there (mean and 90th percentile over clean face photos), so that the segmenter asks
"more than a clean face would show here?" rather than "more than a global threshold?".
It also records how much local structure clean faces show at least, per pixel (the level
:mod:`s3pot.segmenters.structure` compares a photo against).

It is fitted from face photos alone (no occlusion masks):

    python -m s3pot.segmenters.evidence FACES_DIR -o s3pot/segmenters/models/evidence_prior.npz \
        [--exclude STEMS.txt] [--limit N] [--reference-model MODEL.npz]

The prior was fitted under one reference model (the shipped one), but its confidence is
relative to each model's own clean-face residual scales: a prior refitted for a model a
user fits (``--reference-model``) measured the same as the shipped one (table at the end of
``models/EVIDENCE_PRIOR.md``), so refitting it is optional.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from s3pot.errors import CheckpointError
from s3pot.model_files import read_npz
from s3pot.segmenters.structure import STRUCTURE_QUANTILE

DIFF_LO = 10.0  # Lab distance (photo vs reference) where colour evidence starts
DIFF_HI = 35.0  # ... and where it saturates
# The model's rejection (1 - confidence) counts in proportion to how visibly the photo
# differs from the reference, reaching full weight at this Lab distance (the distance
# blurred over about 1 % of the crop's side). The confidence is relative to the clean-face
# residual scale, which is a few grey levels on smooth cheeks: a strongly lit cheek that the
# reference reproduces within a few Lab units was rejected as a whole (dev bench d0269, a
# third of the face). Measured on the dev bench and held-out composites: EVIDENCE_PRIOR.md.
# It is also what hides a hand: skin on skin is a small step, and the face model's rejection
# of a pasted hand is high (median 1 - confidence 0.76 inside the hand, 0.09 on the visible
# face) but discounted. Without the discount (0) hands rise from 0.41 to 0.46
# (benchmarks/hand_occluders.py composites), and the dev bench's clean false positives from
# 1.7 % to 3.7 %; prior_scale 1.7-2.0, or lifting the discount only where 1 - confidence
# > 0.7-0.85, still leave 2.6-3.0 % and lose most of the hands' gain (0.39-0.44): clean
# faces have such patches too.
CONF_STEP = 30.0
PRIOR_SIZE = 64  # resolution of the stored prior maps (smooth maps: upsampled when used)


_SUM_CHANNELS = np.ones((1, 3))


def pixel_evidence(raw: np.ndarray, ref: np.ndarray, confidence: np.ndarray,
                   conf_step: float = CONF_STEP, median: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(e_conf, e_diff)`` in [0, 1], both (H, W) float32, for same-size raw/ref/confidence.

    ``conf_step``: Lab distance at which ``e_conf`` gets full weight (0: no discount).
    ``median``: median-filter ``raw`` over this many pixels at 128 px (scaled to its size)
    first, so that skin texture finer than the face model is not a colour step (0: not).
    """
    if median > 1:
        k = max(3, int(round(median * raw.shape[0] / 128.0)) | 1)
        raw = cv2.medianBlur(raw, k)
    # Euclidean Lab distance: squared channel steps summed by cv2.transform (exact for
    # 8-bit Lab, so equal to np.linalg.norm over the channels, at a third of its cost).
    step = cv2.absdiff(cv2.cvtColor(raw, cv2.COLOR_RGB2LAB), cv2.cvtColor(ref, cv2.COLOR_RGB2LAB))
    step = step.astype(np.float32)
    dist = np.sqrt(cv2.transform(step * step, _SUM_CHANNELS))
    e_diff = np.clip((dist - DIFF_LO) / (DIFF_HI - DIFF_LO), 0, 1)
    e_conf = 1.0 - np.clip(confidence.astype(np.float32), 0, 1)
    if conf_step > 0:
        near = cv2.GaussianBlur(dist, (0, 0), max(raw.shape[0] / 85.0, 0.5))
        e_conf = e_conf * np.clip(near / conf_step, 0, 1)
    return e_conf, e_diff.astype(np.float32)


# Centres of the head-turn bins the prior is also fitted in (s3pot.faces.base.yaw_ratio):
# a turned face shows more evidence where the frontal-dominated pooled prior expects little
# (its far side foreshortened, its near cheek lit and wide), so it asks "more than clean
# faces turned like this one show here?". Each clean face also counts mirrored, as a face
# turned the other way; a bin with fewer than YAW_MIN_FACES faces uses the pooled maps.
YAW_CENTRES = (-0.6, -0.3, 0.0, 0.3, 0.6)
YAW_MIN_FACES = 40


@dataclass
class EvidencePrior:
    """Per-pixel clean-face evidence level in the aligned frame (any aligned size)."""

    q90: np.ndarray  # (2, PRIOR_SIZE, PRIOR_SIZE) float32: 90th percentile of e_conf, e_diff
    mean: np.ndarray  # (2, PRIOR_SIZE, PRIOR_SIZE) float32
    count: int  # clean faces it was fitted on
    # (PRIOR_SIZE, PRIOR_SIZE) float32: the STRUCTURE_QUANTILE of clean faces' structure
    # maps (s3pot.segmenters.structure); None in a prior fitted before it existed.
    structure: np.ndarray | None = None
    # (len(yaw_centres), 2, PRIOR_SIZE, PRIOR_SIZE) float32: q90 per head-turn bin; None in
    # a prior fitted before it existed (then every face gets the pooled q90).
    q90_yaw: np.ndarray | None = None
    yaw_centres: np.ndarray | None = None

    def level(self, size: int, yaw: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The q90 maps of e_conf and e_diff resized to ``size``; for a face turned by
        ``yaw`` (:func:`s3pot.faces.base.yaw_ratio`), interpolated between the two nearest
        head-turn bins."""
        maps = self.q90
        if yaw is not None and self.q90_yaw is not None and self.yaw_centres is not None:
            c = self.yaw_centres
            y = float(np.clip(yaw, c[0], c[-1]))
            i = int(np.clip(np.searchsorted(c, y) - 1, 0, len(c) - 2))
            t = (y - c[i]) / max(float(c[i + 1] - c[i]), 1e-6)
            maps = (1 - t) * self.q90_yaw[i] + t * self.q90_yaw[i + 1]
        up = [cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in maps]
        return up[0], up[1]

    def structure_level(self, size: int) -> np.ndarray | None:
        """The clean faces' structure level resized to ``size`` (None if not fitted)."""
        if self.structure is None:
            return None
        return cv2.resize(self.structure, (size, size), interpolation=cv2.INTER_LINEAR)

    def save(self, path: str | os.PathLike[str]) -> None:
        import io

        from s3pot.image_io import save_bytes

        buf = io.BytesIO()
        extra = {} if self.structure is None else {"structure": self.structure.astype(np.float16)}
        if self.q90_yaw is not None and self.yaw_centres is not None:
            extra.update(q90_yaw=self.q90_yaw.astype(np.float16),
                         yaw_centres=np.asarray(self.yaw_centres, np.float32))
        np.savez_compressed(buf, q90=self.q90.astype(np.float16), mean=self.mean.astype(np.float16),
                            count=np.int64(self.count), version=np.int64(2 if extra else 1), **extra)
        save_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> EvidencePrior:
        p = Path(path) if path is not None else default_prior_path()
        z = read_npz(p, "evidence prior")

        def opt(key: str) -> np.ndarray | None:
            return z[key].astype(np.float32) if key in z else None

        try:
            prior = cls(q90=z["q90"].astype(np.float32), mean=z["mean"].astype(np.float32),
                        count=int(z["count"]), structure=opt("structure"),
                        q90_yaw=opt("q90_yaw"), yaw_centres=opt("yaw_centres"))
        except KeyError as exc:
            raise CheckpointError(p, f"not an evidence prior (missing {exc.args[0]})") from None
        except (TypeError, ValueError) as exc:
            raise CheckpointError(p, f"not a readable evidence prior ({exc})") from None
        q, c = prior.q90_yaw, prior.yaw_centres
        if (q is None) != (c is None) or (q is not None and c is not None and (
                q.shape[1:] != prior.q90.shape or c.ndim != 1 or len(c) < 2 or q.shape[0] != len(c))):
            raise CheckpointError(p, "not a readable evidence prior (head-turn maps do not match)")
        return prior


def default_prior_path() -> Path:
    return Path(str(resources.files("s3pot.segmenters") / "models" / "evidence_prior.npz"))


def fit_prior(samples: list[tuple[np.ndarray, np.ndarray]],
              structures: list[np.ndarray] | None = None,
              yaws: list[float] | None = None) -> EvidencePrior:
    """Fit from ``(e_conf, e_diff)`` pairs of clean faces (any common size), from their
    structure maps (:func:`s3pot.segmenters.structure.structure_map`) if given, and per
    head-turn bin from the faces' :func:`s3pot.faces.base.yaw_ratio` if given."""
    if not samples:
        raise ValueError("no clean faces to fit the evidence prior on")

    def small(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m, (PRIOR_SIZE, PRIOR_SIZE), interpolation=cv2.INTER_AREA)

    def q90_of(stack: np.ndarray) -> np.ndarray:
        q = np.quantile(stack, 0.9, axis=0).astype(np.float32)
        return np.stack([cv2.GaussianBlur(m, (0, 0), 1.0) for m in q])

    stack = np.stack([np.stack([small(m) for m in pair]) for pair in samples])  # (N, 2, S, S)
    q90 = q90_of(stack)
    structure = None
    if structures:
        low = np.quantile(np.stack([small(m) for m in structures]), STRUCTURE_QUANTILE, axis=0)
        structure = cv2.GaussianBlur(low.astype(np.float32), (0, 0), 1.0)
    q90_yaw = centres = None
    if yaws is not None:
        if len(yaws) != len(samples):
            raise ValueError("one yaw per sample")
        centres = np.asarray(YAW_CENTRES, np.float32)
        both = np.concatenate([stack, stack[..., ::-1]])  # each face, and mirrored
        yy = np.concatenate([np.asarray(yaws, np.float32), -np.asarray(yaws, np.float32)])
        nearest = np.abs(yy[:, None] - centres[None]).argmin(1)
        q90_yaw = np.stack([q90_of(both[nearest == b]) if (nearest == b).sum() >= YAW_MIN_FACES
                            else q90 for b in range(len(centres))])
    return EvidencePrior(q90=q90, mean=stack.mean(0).astype(np.float32), count=len(samples),
                         structure=structure, q90_yaw=q90_yaw, yaw_centres=centres)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from s3pot.errors import S3potError
    from s3pot.faces.base import yaw_ratio
    from s3pot.image_io import find_images, load_image
    from s3pot.parsing.base import face_region
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.segmenters.offline import OfflineParams
    from s3pot.segmenters.structure import structure_map

    ap = argparse.ArgumentParser(description="Fit the clean-face evidence prior of the offline segmenter.")
    ap.add_argument("faces", help="folder of clean face photos")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--exclude", help="file of photo stems to leave out (one per line)")
    ap.add_argument("--limit", type=int, default=0, help="use at most N photos (evenly spread)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--reference-model", help="PCA reference model the prior is for (default: the shipped one)")
    args = ap.parse_args(argv)
    paths, _ = find_images([args.faces])
    if args.exclude:
        skip = {line.strip() for line in open(args.exclude) if line.strip()}
        paths = [p for p in paths if p.stem not in skip]
    if args.limit and len(paths) > args.limit:
        paths = paths[:: len(paths) // args.limit][: args.limit]
    gen_kwargs = {"model": args.reference_model} if args.reference_model else {}
    pred = S3potPredictor(PipelineConfig(align_size=args.size, generator_kwargs=gen_kwargs))
    ws = OfflineParams().work_size  # structure is measured where the segmenter measures it
    samples, structures, yaws = [], [], []
    for path in tqdm(paths, unit="photo"):
        try:
            faces = pred.prepare(load_image(path))
        except S3potError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        for f in faces:
            # The prior records the model's own rejection level on clean faces, before the
            # visibility discount: the segmenter then asks for both (more rejection than
            # clean faces show here, and a visible colour step). A prior fitted on the
            # discounted evidence is lower and gave back the false positives (dev bench
            # clean FP 2.7 % -> 4.8 %).
            samples.append(pixel_evidence(f.aligned, f.reference, f.confidence, conf_step=0.0,
                                          median=OfflineParams().diff_median))
            raw = cv2.resize(f.aligned, (ws, ws), interpolation=cv2.INTER_AREA)
            region = cv2.resize(face_region(f.parsing).astype(np.uint8), (ws, ws),
                                interpolation=cv2.INTER_NEAREST) > 0
            structures.append(structure_map(raw, region))
            yaws.append(yaw_ratio(f.landmarks_aligned))
    prior = fit_prior(samples, structures, yaws)
    prior.save(args.output)
    print(f"evidence prior fitted on {prior.count} faces from {len(paths)} photos -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
