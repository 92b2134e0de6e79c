"""RealOcc / RealOcc-Wild layout (Voo, Jiang, Loy, CVPRW 2022).

``image/NAME.jpg`` and ``mask/NAME.png`` with two classes, background 0 and *face* 1 (0/255
also accepted): the mask marks the **visible** face, the polarity opposite to ours. An
optional ``split/*.txt`` names the images of a split. Without a face region, occlusion is
unknown (the visible mask does not say where the covered face was), so only the
face/non-face mIoU can be scored; give ``face/NAME.png`` masks (or ``polarity="occlusion"``
for a dataset in this layout whose masks mark occlusion) to score occlusion too.
"""

from __future__ import annotations

from pathlib import Path

from s3pot.eval.dataset import Dataset, DatasetError, Sample
from s3pot.eval.readers.common import find_by_stem, list_images, mask_pair_loader, read_split


def read_realocc(root: Path, polarity: str = "visible", split: str | None = None) -> Dataset:
    """Read RealOcc; ``split`` is a split name (``val`` -> split/val.txt) or a file path."""
    images = list_images(root / "image")
    mask_dir, face_dir = root / "mask", root / "face"
    if not mask_dir.is_dir():
        raise DatasetError(mask_dir, "folder not found (RealOcc layout needs image/ and mask/)")
    names = list(images)
    if split is not None:
        split_path = Path(split) if Path(split).suffix else root / "split" / f"{split}.txt"
        names = read_split(split_path)
        for n in names:
            if n not in images:
                raise DatasetError(split_path, f"names image '{n}' not found in {root / 'image'}")
    has_face = face_dir.is_dir()
    samples = []
    for stem in names:
        img = images[stem]
        mask = find_by_stem(mask_dir, stem)
        if mask is None:
            raise DatasetError(mask_dir / f"{stem}.png", f"missing mask for image {img.name}")
        face = find_by_stem(face_dir, stem) if has_face else None
        samples.append(Sample(stem, img, mask_pair_loader(img, mask, face, polarity)))
    notes = [f"RealOcc masks read as {polarity} masks"]
    if polarity == "visible" and not has_face:
        notes.append("no face/ folder: occlusion ground truth unknown, only face mIoU is scored")
    return Dataset(root, "realocc", samples, notes)
