"""Dataset readers, one module per layout, and :func:`open_dataset` to pick one.

Layouts: ``folders`` (images/ + masks/ [+ face/]), ``realocc`` (image/ + mask/, visible-face
masks), ``labelme`` (JSON polygons), ``celebamask`` (CelebAMask-HQ per-class files or
merged label maps). ``auto`` recognises each by its folder names.
"""

from __future__ import annotations

from pathlib import Path

from s3pot.eval.dataset import Dataset, DatasetError

LAYOUTS = ("auto", "folders", "realocc", "labelme", "celebamask")


def detect_layout(root: Path) -> str:
    """Layout of ``root`` from its folder names (raises when none fits)."""
    from s3pot.eval.readers.celebamask import ANNO_DIR

    if (root / ANNO_DIR).is_dir() or (root / "CelebAMask-HQ-mask").is_dir():
        return "celebamask"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return "folders"
    if (root / "image").is_dir() and (root / "mask").is_dir():
        return "realocc"
    if any(root.glob("*.json")) or any(root.glob("*/*.json")):
        return "labelme"
    raise DatasetError(root, "unrecognised dataset layout (expected images/+masks/, image/+mask/, "
                       f"labelme .json files or {ANNO_DIR}/); pass --layout")


def open_dataset(
    root: str | Path,
    layout: str = "auto",
    polarity: str | None = None,
    split: str | None = None,
    occluder_labels: list[str] | None = None,
    face_labels: list[str] | None = None,
    occluder_classes: list[str] | None = None,
) -> Dataset:
    """Open a dataset folder with the reader of ``layout`` (``auto`` detects it)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset folder not found")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (choose from: {', '.join(LAYOUTS)})")
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "folders":
        from s3pot.eval.readers.folders import read_folders

        return read_folders(root, polarity or "occlusion")
    if layout == "realocc":
        from s3pot.eval.readers.realocc import read_realocc

        return read_realocc(root, polarity or "visible", split)
    if layout == "labelme":
        from s3pot.eval.readers.labelme import DEFAULT_FACE_LABELS, read_labelme

        return read_labelme(root, occluder_labels,
                            face_labels if face_labels is not None else DEFAULT_FACE_LABELS)
    from s3pot.eval.readers.celebamask import DEFAULT_OCCLUDERS, read_celebamask

    return read_celebamask(root, occluder_classes or DEFAULT_OCCLUDERS)
