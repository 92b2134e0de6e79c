"""CelebAMask-HQ: per-class annotation files or merged label maps.

Per-class layout (the official release)::

    CelebA-HQ-img/<id>.jpg                                  1024x1024 photos
    CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<class>.png  512x512, one file per class

The class files are merged in the official order (later classes overwrite earlier ones, as
the release's own merge script does). Merged label maps (ids 0..18, e.g. ``N.png`` next to
``N.jpg``, or ``CelebAMask-HQ-mask/<id>.png``) are read directly.

Ground truth: *occluder classes* (chosen by the user) count as occlusion where they lie
inside the convex hull of the face classes; the visible face is the face-class pixels.
Annotations are 512 px and photos 1024 px by design of the dataset: evaluation happens in
the annotation frame and a photo exactly twice its annotation's size is area-downscaled by
two (a stated property of the layout, reported in the notes). Any other size difference is
an error naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from s3pot.eval.dataset import (
    Dataset,
    DatasetError,
    GroundTruth,
    Sample,
    check_size,
    halve_image,
    image_size,
    read_label_map,
    read_mask,
)
from s3pot.eval.readers.common import find_by_stem, list_images
from s3pot.image_io import load_image

CLASSES = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow",
           "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l",
           "neck", "cloth")
CLASS_ID = {c: i for i, c in enumerate(CLASSES)}
FACE_CLASSES = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "mouth",
                "u_lip", "l_lip")
DEFAULT_OCCLUDERS = ("hair", "hat", "cloth")
ANNO_DIR = "CelebAMask-HQ-mask-anno"
_ANNO_NAME = re.compile(r"^(\d+)_([a-z_]+)$")


def parse_classes(names: Iterable[str]) -> tuple[str, ...]:
    """Validate class names (raises ValueError naming the unknown ones)."""
    names = tuple(n.strip() for n in names if n.strip())
    bad = [n for n in names if n not in CLASS_ID or n == "background"]
    if bad:
        raise ValueError(f"unknown CelebAMask-HQ class(es): {', '.join(bad)} "
                         f"(choose from: {', '.join(CLASSES[1:])})")
    return names


def labels_to_gt(labels: np.ndarray, occluders: Iterable[str]) -> GroundTruth:
    """Label map -> occlusion / visible / face masks (see module docstring)."""
    occ_ids = [CLASS_ID[c] for c in occluders]
    face_ids = [CLASS_ID[c] for c in FACE_CLASSES if c not in occluders]
    visible = np.isin(labels, face_ids)
    hull = np.zeros(labels.shape, np.uint8)
    pts = cv2.findNonZero(visible.astype(np.uint8))
    if pts is not None and len(pts) >= 3:
        cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    occlusion = np.isin(labels, occ_ids) & (hull > 0)
    return GroundTruth(occlusion=occlusion, visible=visible, face=visible | occlusion)


def merge_class_files(files: dict[str, Path], shape: tuple[int, int]) -> np.ndarray:
    """Per-class masks -> label map, painting in the official class order."""
    labels = np.zeros(shape, np.uint8)
    for cls in CLASSES[1:]:
        if cls in files:
            m = read_mask(files[cls])
            check_size(m, shape, files[cls], f"'{cls}' annotation")
            labels[m] = CLASS_ID[cls]
    return labels


def _image_frame(img_path: Path, anno_shape: tuple[int, int], anno_path: Path) -> bool:
    """True when the photo must be halved to reach the annotation frame; else sizes match."""
    shape = image_size(img_path)
    if shape == anno_shape:
        return False
    if shape == (anno_shape[0] * 2, anno_shape[1] * 2):
        return True
    raise DatasetError(anno_path, f"annotation is {anno_shape[1]}x{anno_shape[0]} but its image "
                       f"{img_path.name} is {shape[1]}x{shape[0]} (only the dataset's exact 2x "
                       "ratio is accepted; nothing else is resized)")


def _sample(stem: str, img_path: Path, anno_shape_of, labels_of, occluders) -> Sample:
    def frame() -> bool:
        shape, ref = anno_shape_of()
        return _image_frame(img_path, shape, ref)

    def image() -> np.ndarray:
        img = load_image(img_path)
        return halve_image(img) if frame() else img

    def load() -> GroundTruth:
        frame()  # size check before anything is scored
        return labels_to_gt(labels_of(), occluders)

    return Sample(stem, img_path, load, image)


def read_celebamask(root: Path, occluders: Iterable[str] = DEFAULT_OCCLUDERS) -> Dataset:
    """Read CelebAMask-HQ (per-class files, or merged label maps)."""
    occluders = parse_classes(occluders)
    notes = [f"occluder classes: {', '.join(occluders)} (inside the convex hull of the face classes)"]
    if (root / ANNO_DIR).is_dir():
        ds = _read_per_class(root, occluders)
    else:
        ds = _read_label_maps(root, occluders)
    ds.notes = notes + ds.notes
    return ds


def _read_per_class(root: Path, occluders: tuple[str, ...]) -> Dataset:
    img_dir = root / "CelebA-HQ-img"
    images = list_images(img_dir)
    index: dict[str, dict[str, Path]] = {}
    for p in (root / ANNO_DIR).rglob("*.png"):
        m = _ANNO_NAME.match(p.stem)
        if m and m.group(2) in CLASS_ID:
            index.setdefault(str(int(m.group(1))), {})[m.group(2)] = p
    samples = []
    for stem, img in images.items():
        key = str(int(stem)) if stem.isdigit() else stem
        files = index.get(key)
        if not files:
            raise DatasetError(root / ANNO_DIR / f"{int(key) // 2000 if key.isdigit() else '?'}",
                               f"no annotation files for image {img.name}")

        def anno_shape(files=files):
            first = next(iter(files.values()))
            return read_mask(first).shape, first

        def labels(files=files, anno_shape=anno_shape):
            return merge_class_files(files, anno_shape()[0])

        samples.append(_sample(stem, img, anno_shape, labels, occluders))
    notes = ["per-class annotation files merged in the official order",
             "photos twice the annotation size are area-downscaled by 2 (512 px frame)"]
    return Dataset(root, "celebamask", samples, notes)


def _read_label_maps(root: Path, occluders: tuple[str, ...]) -> Dataset:
    if (root / "CelebA-HQ-img").is_dir() and (root / "CelebAMask-HQ-mask").is_dir():
        map_dir = root / "CelebAMask-HQ-mask"
        images = list_images(root / "CelebA-HQ-img")
    else:
        map_dir = root
        images = {p.stem: p for p in sorted(root.iterdir()) if p.is_file()
                  and p.suffix.lower() in (".jpg", ".jpeg", ".webp") and not p.name.startswith(".")}
        if not images:
            raise DatasetError(root, f"no {ANNO_DIR}/ folder and no photo + label-map pairs")
    samples = []
    for stem, img in images.items():
        lm = find_by_stem(map_dir, stem)
        if lm is None or lm == img:
            raise DatasetError(map_dir / f"{stem}.png", f"missing label map for image {img.name}")

        def anno_shape(lm=lm):
            return image_size(lm), lm

        def labels(lm=lm):
            return read_label_map(lm)

        samples.append(_sample(stem, img, anno_shape, labels, occluders))
    notes = ["merged label maps (ids 0..18)",
             "photos twice the annotation size are area-downscaled by 2 (annotation frame)"]
    return Dataset(root, "celebamask", samples, notes)
