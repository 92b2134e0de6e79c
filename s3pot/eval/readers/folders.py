"""``images/`` + ``masks/`` (+ optional ``face/``) folders: the layout ``s3pot synth`` writes.

``masks/NAME.png`` is the occlusion mask (0/255) of ``images/NAME.*``; ``face/NAME.png``
is the face region the annotation was made in (used for the clean false-positive rate and
the face/non-face mIoU). A grouping CSV (``groups.csv`` or ``families.csv``) in the root is
offered to the scorer.
"""

from __future__ import annotations

from pathlib import Path

from s3pot.eval.dataset import Dataset, DatasetError, Sample
from s3pot.eval.readers.common import find_by_stem, list_images, mask_pair_loader

GROUP_FILES = ("groups.csv", "families.csv")


def read_folders(root: Path, polarity: str = "occlusion") -> Dataset:
    """Read the folders layout; every image must have a mask of the same size."""
    images = list_images(root / "images")
    mask_dir, face_dir = root / "masks", root / "face"
    if not mask_dir.is_dir():
        raise DatasetError(mask_dir, "folder not found (the folders layout needs images/ and masks/)")
    has_face = face_dir.is_dir()
    samples = []
    for stem, img in images.items():
        mask = find_by_stem(mask_dir, stem)
        if mask is None:
            raise DatasetError(mask_dir / f"{stem}.png", f"missing mask for image {img.name}")
        face = find_by_stem(face_dir, stem) if has_face else None
        if has_face and face is None:
            raise DatasetError(face_dir / f"{stem}.png", f"missing face mask for image {img.name}")
        samples.append(Sample(stem, img, mask_pair_loader(img, mask, face, polarity)))
    notes = [f"masks are {'occlusion' if polarity == 'occlusion' else 'visible-face'} masks"]
    if has_face:
        notes.append("face/ masks give the face region")
    groups = next((root / g for g in GROUP_FILES if (root / g).is_file()), None)
    return Dataset(root, "folders", samples, notes, groups)
