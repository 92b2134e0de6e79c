"""``s3pot synth``: a folder of face photos -> images/, masks/, face/, groups.csv.

Deterministic for a seed: sample ``i`` draws everything from ``default_rng([seed, i])``, so
a run can be extended or a single sample regenerated without replaying the others.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s3pot.eval.dataset import DatasetError
from s3pot.eval.synth.compose import CLEAN, kinds, synthesize
from s3pot.eval.synth.cutouts import Cutout, load_cutouts
from s3pot.faces.base import FaceDetector
from s3pot.image_io import find_images, load_image, save_bytes, save_image


@dataclass
class SynthSummary:
    written: int
    skipped_sources: list[str]
    groups: dict[str, int]


def _largest_face(detector: FaceDetector, image: np.ndarray) -> np.ndarray | None:
    faces = detector.detect(image)
    if not faces:
        return None
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).landmarks


def select_kinds(cutouts: Sequence[Cutout], include: Sequence[str] | None,
                 exclude: Sequence[str] | None) -> list[str]:
    """Kinds to draw from; names may be a cut-out name, its placement kind, or a shape."""
    available = kinds(cutouts)
    placement = {c.name: c.kind for c in cutouts}

    def matches(k: str, names: Sequence[str]) -> bool:
        return k in names or placement.get(k) in names

    for name in list(include or []) + list(exclude or []):
        if not any(matches(k, [name]) for k in available):
            raise ValueError(f"unknown occluder kind {name!r} (available: {', '.join(available)})")
    chosen = [k for k in available if (not include or matches(k, include))
              and not (exclude and matches(k, exclude))]
    if not chosen:
        raise ValueError("no occluder kind left after --only/--exclude")
    return chosen


def synthesize_folder(
    faces_dir: str | Path,
    occluders_dir: str | Path,
    out_dir: str | Path,
    count: int | None = None,
    seed: int = 0,
    clean_fraction: float = 0.15,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    detector: FaceDetector | None = None,
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write ``count`` composites (default: one per face photo) in the dataset layout."""
    paths, problems = find_images([str(faces_dir)])
    if problems:
        raise DatasetError(problems[0][0], problems[0][1])
    cutouts = load_cutouts(Path(occluders_dir))
    pool = select_kinds(cutouts, include, exclude)
    if detector is None:
        from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

        detector = MediapipeFaceMesh(max_faces=4)
    out = Path(out_dir)
    landmarks: dict[int, np.ndarray | None] = {}
    skipped: list[str] = []

    def source(j: int) -> tuple[np.ndarray, np.ndarray | None]:
        img = load_image(paths[j])
        if j not in landmarks:
            landmarks[j] = _largest_face(detector, img)
            if landmarks[j] is None:
                skipped.append(paths[j].name)
        return img, landmarks[j]

    def crop_source(rng: np.random.Generator) -> np.ndarray:
        return load_image(paths[int(rng.integers(len(paths)))])

    n = len(paths) if count is None else count
    rows: list[tuple[str, str, str, str, str]] = []
    i = attempt = 0
    while len(rows) < n:
        if attempt >= n + len(paths):
            raise DatasetError(faces_dir, f"no face found in {len(skipped)} of the photos; "
                               f"only {len(rows)} composites could be made")
        j = attempt % len(paths)
        attempt += 1
        img, lm = source(j)
        if lm is None:
            continue
        rng = np.random.default_rng([seed, i])
        kind = CLEAN if rng.random() < clean_fraction else str(rng.choice(pool))
        res = synthesize(img, lm, kind, rng, cutouts, crop_source)
        for _ in range(4):  # an occluder that misses the face teaches nothing: redraw
            if kind == CLEAN or res.mask.any():
                break
            res = synthesize(img, lm, kind, rng, cutouts, crop_source)
        name = f"s{i:05d}"
        save_image(out / "images" / f"{name}.png", res.image)
        save_image(out / "masks" / f"{name}.png", res.mask.astype(np.uint8) * 255)
        save_image(out / "face" / f"{name}.png", res.face.astype(np.uint8) * 255)
        rows.append((name, res.group, f"{res.coverage:.4f}", paths[j].name, res.details))
        i += 1
        if progress and (i % 50 == 0 or i == n):
            progress(f"{i}/{n} composites written")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "group", "coverage", "source", "details"])
    writer.writerows(rows)
    save_bytes(out / "groups.csv", buf.getvalue().encode("utf-8"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[1]] = counts.get(r[1], 0) + 1
    return SynthSummary(len(rows), skipped, counts)
