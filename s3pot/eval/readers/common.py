"""Helpers shared by the readers: listing files by stem and building mask loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s3pot.eval.dataset import DatasetError, GroundTruth, check_size, image_size, read_mask
from s3pot.image_io import IMAGE_SUFFIXES

POLARITIES = ("occlusion", "visible")


def list_images(folder: Path) -> dict[str, Path]:
    """Stem -> image path for the images directly inside ``folder`` (sorted by stem)."""
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            if p.stem in found:
                raise DatasetError(p, f"two images share the name '{p.stem}' ({found[p.stem].name})")
            found[p.stem] = p
    if not found:
        raise DatasetError(folder, "folder holds no images")
    return found


def find_by_stem(folder: Path, stem: str) -> Path | None:
    """The mask file for ``stem`` in ``folder`` (.png preferred, any image suffix accepted)."""
    png = folder / f"{stem}.png"
    if png.exists():
        return png
    for suffix in IMAGE_SUFFIXES:
        p = folder / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def read_split(path: Path) -> list[str]:
    """A split file: one name per line (suffix optional), blank lines and # comments skipped."""
    if not path.exists():
        raise DatasetError(path, "split file not found")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(Path(line).stem if Path(line).suffix.lower() in IMAGE_SUFFIXES else line)
    return names


def mask_pair_loader(
    image_path: Path, mask_path: Path, face_path: Path | None, polarity: str
):
    """Loader of a binary-mask sample: checks sizes against the image, applies polarity.

    With ``polarity="visible"`` the mask marks the visible face; occlusion is then known only
    inside a given face region (face minus visible), otherwise it stays unknown (None).
    """
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")

    def load() -> GroundTruth:
        shape = image_size(image_path)
        mask = read_mask(mask_path)
        check_size(mask, shape, mask_path, "mask")
        face = None
        if face_path is not None:
            face = read_mask(face_path)
            check_size(face, shape, face_path, "face mask")
        if polarity == "occlusion":
            return GroundTruth(occlusion=mask, face=face)
        occ = None if face is None else face & ~mask
        return GroundTruth(occlusion=occ, visible=mask, face=face)

    return load


def empty_gt(shape: tuple[int, int]) -> GroundTruth:
    """Ground truth of an image with nothing annotated."""
    return GroundTruth(occlusion=np.zeros(shape, bool))
