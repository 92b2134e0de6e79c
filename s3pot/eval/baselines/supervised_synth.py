"""``supervised-synth``: a small U-Net trained on synthetic composites, run per face.

The strongest peer we can train here: it learns occluder masks from composites exactly as
RealOcc-style methods do, on the faces and occluders the user provides, with one occluder
kind held out. At test time each face found by the pipeline is aligned the same way, the
network predicts occlusion in the aligned frame and it is mapped back to the photo.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from s3pot.eval.baselines.faces import Prepare, paste_union, pipeline_prepare
from s3pot.eval.baselines.synth_training import (
    TrainConfig,
    cache_key,
    default_cache_dir,
    list_training_faces,
    load_weights,
    save_weights,
    to_net,
    train,
)
from s3pot.eval.baselines.unet import TinyUNet
from s3pot.eval.predictions import Prediction
from s3pot.image_io import find_images


class SupervisedSynth:
    name = "supervised-synth"

    def __init__(self, net: TinyUNet, input_size: int, prepare: Prepare | None = None,
                 meta: dict | None = None, pipeline_config=None) -> None:
        self.net = net.eval()
        self.input_size = input_size
        self.meta = meta or {}
        self._prepare = prepare or pipeline_prepare(reference=False, config=pipeline_config)

    @torch.no_grad()
    def probabilities(self, aligned: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Occlusion probability per aligned crop, at the crop's own size."""
        if not aligned:
            return []
        x = np.stack([to_net(a, self.input_size) for a in aligned]).astype(np.float32) / 255
        p = torch.sigmoid(self.net(torch.from_numpy(x).permute(0, 3, 1, 2))).numpy()
        return [cv2.resize(pi, a.shape[1::-1], interpolation=cv2.INTER_LINEAR)
                for pi, a in zip(p, aligned, strict=True)]

    def predict(self, image: np.ndarray) -> Prediction:
        faces = self._prepare(image)
        probs = self.probabilities([fr.aligned for fr in faces])
        return Prediction(paste_union(faces, probs, image.shape, soft=True))


def build_supervised_synth(
    weights: str | Path | None = None,
    train_faces: str | Path | None = None,
    train_occluders: str | Path | None = None,
    holdout: Sequence[str] = ("sunglasses",),
    steps: int | None = None,
    exclude_regex: str | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    pipeline_config=None,
    log: Callable[[str], None] | None = None,
) -> SupervisedSynth:
    """Load ``weights``, or train on ``train_faces`` + ``train_occluders`` (cached by inputs)."""
    log = log or (lambda m: print(f"supervised-synth: {m}", file=sys.stderr, flush=True))
    if weights is not None:
        net, meta = load_weights(Path(weights))
        size = meta.get("config", {}).get("input_size", 96)
        return SupervisedSynth(net, size, meta=meta, pipeline_config=pipeline_config)
    if train_faces is None or train_occluders is None:
        raise ValueError("supervised-synth needs --weights FILE, or --train-faces DIR and "
                         "--train-occluders DIR to train on (weights are cached)")
    cfg = TrainConfig(holdout=tuple(holdout), exclude_regex=exclude_regex, seed=seed,
                      **({"steps": steps} if steps else {}))
    faces_dir, occ_dir = Path(train_faces), Path(train_occluders)
    occ_files, _ = find_images([str(occ_dir)])
    key = cache_key(cfg, list_training_faces(faces_dir, cfg), occ_files)
    path = Path(cache_dir or default_cache_dir()) / f"supervised-synth-{key}.pt"
    if path.exists():
        log(f"using cached weights {path}")
        net, meta = load_weights(path)
    else:
        log(f"training (weights will be cached at {path})")
        net, meta = train(faces_dir, occ_dir, cfg, log)
        save_weights(path, net, meta)
        log(f"trained in {meta['seconds']} s, final loss {meta['final_loss']:.3f}")
    return SupervisedSynth(net, cfg.input_size, meta=meta, pipeline_config=pipeline_config)
