"""Where predicted masks come from: a folder of PNGs, or a method run on each image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from s3pot.eval.dataset import DatasetError, Sample, check_size, read_mask
from s3pot.image_io import save_image


@dataclass
class Prediction:
    """A method's output for one photo: occlusion (H, W) bool, optionally the visible face."""

    occlusion: np.ndarray
    visible: np.ndarray | None = None


class Method(Protocol):
    """Anything with ``predict(image_rgb) -> Prediction`` can be scored."""

    name: str

    def predict(self, image: np.ndarray) -> Prediction: ...


class PredictionSource(Protocol):
    def __call__(self, sample: Sample, shape: tuple[int, int]) -> Prediction: ...


class FolderPredictions:
    """Masks ``NAME.occlusion.png`` (or ``NAME.png``), 0/255, optional ``NAME.visible.png``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DatasetError(self.folder, "prediction folder not found")

    def path_for(self, name: str) -> Path:
        for candidate in (f"{name}.occlusion.png", f"{name}.png"):
            p = self.folder / candidate
            if p.exists():
                return p
        raise DatasetError(self.folder / f"{name}.png",
                           f"missing prediction for image '{name}' "
                           f"(expected {name}.png or {name}.occlusion.png)")

    def __call__(self, sample: Sample, shape: tuple[int, int]) -> Prediction:
        path = self.path_for(sample.name)
        occ = read_mask(path)
        check_size(occ, shape, path, "predicted mask")
        vis_path = self.folder / f"{sample.name}.visible.png"
        vis = None
        if vis_path.exists():
            vis = read_mask(vis_path)
            check_size(vis, shape, vis_path, "predicted visible mask")
        return Prediction(occ, vis)


class MethodPredictions:
    """Runs ``method`` on each sample's image; optionally saves the masks as it goes."""

    def __init__(self, method: Method, save_dir: str | Path | None = None) -> None:
        self.method = method
        self.save_dir = Path(save_dir) if save_dir else None

    def __call__(self, sample: Sample, shape: tuple[int, int]) -> Prediction:
        image = sample.load_image()
        if tuple(image.shape[:2]) != tuple(shape):
            raise DatasetError(sample.image_path,
                               f"image is {image.shape[1]}x{image.shape[0]} but its annotation "
                               f"is {shape[1]}x{shape[0]}")
        pred = self.method.predict(image)
        if pred.occlusion.shape != tuple(shape):
            raise RuntimeError(f"method {self.method.name} returned a {pred.occlusion.shape} mask "
                               f"for a {tuple(shape)} image ({sample.name})")
        if self.save_dir is not None:
            save_image(self.save_dir / f"{sample.name}.occlusion.png",
                       pred.occlusion.astype(np.uint8) * 255)
            if pred.visible is not None:
                save_image(self.save_dir / f"{sample.name}.visible.png",
                           pred.visible.astype(np.uint8) * 255)
        return pred
