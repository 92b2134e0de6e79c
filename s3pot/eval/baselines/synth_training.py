"""Training the ``supervised-synth`` segmenter on synthetic composites (RealOcc recipe).

Clean face photos are aligned with the pipeline's own FFHQ crop (jittered a little, since
test-time landmarks come from occluded faces), occluded with :mod:`s3pot.eval.synth` in the
aligned frame, and a :class:`~s3pot.eval.baselines.unet.TinyUNet` learns the masks. One
occluder kind can be held out, to measure how the peer does on a kind it never saw.

Weights are written to a cache folder keyed by every training input, never into the
project: they derive from whatever faces the user points at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from s3pot.eval.baselines.unet import TinyUNet
from s3pot.eval.dataset import DatasetError
from s3pot.eval.synth.compose import CLEAN, synthesize
from s3pot.eval.synth.cutouts import load_cutouts
from s3pot.eval.synth.generate import select_kinds
from s3pot.faces.align import ffhq_quad, transform_from_quad
from s3pot.faces.base import alignment_points
from s3pot.image_io import find_images, load_image, save_bytes

FORMAT_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (the cache key hashes all of it)."""

    holdout: tuple[str, ...] = ("sunglasses",)
    synth_size: int = 128  # composites are made on FFHQ crops of this size ...
    input_size: int = 96  # ... then area-downscaled to the network's input
    base_channels: int = 8
    steps: int = 600
    batch: int = 16
    pool: int = 2000  # composites generated once, then augmented
    max_faces: int = 1000
    clean_fraction: float = 0.15
    exclude_regex: str | None = None  # face files to leave out (e.g. test frames)
    seed: int = 0
    lr: float = 3e-3


def default_cache_dir() -> Path:
    """``$S3POT_CACHE`` or ``~/.cache/s3pot``, sub-folder ``supervised-synth``."""
    root = os.environ.get("S3POT_CACHE") or Path.home() / ".cache" / "s3pot"
    return Path(root) / "supervised-synth"


def _fingerprint(paths: Sequence[Path]) -> list[tuple[str, int]]:
    return [(p.name, p.stat().st_size) for p in paths]


def cache_key(cfg: TrainConfig, faces: Sequence[Path], occluders: Sequence[Path]) -> str:
    blob = json.dumps([FORMAT_VERSION, asdict(cfg), _fingerprint(faces), _fingerprint(occluders)])
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def list_training_faces(faces_dir: Path, cfg: TrainConfig) -> list[Path]:
    paths, problems = find_images([str(faces_dir)])
    if problems:
        raise DatasetError(problems[0][0], problems[0][1])
    if cfg.exclude_regex:
        pat = re.compile(cfg.exclude_regex)
        paths = [p for p in paths if not pat.search(p.name)]
    rng = np.random.default_rng(cfg.seed)
    if len(paths) > cfg.max_faces:
        paths = sorted(rng.choice(np.array(paths, dtype=object), cfg.max_faces, replace=False))
    if not paths:
        raise DatasetError(faces_dir, "no training faces left")
    return list(paths)


def _aligned(image: np.ndarray, lm: np.ndarray, size: int, rng: np.random.Generator | None):
    """Pipeline FFHQ crop at ``size`` px (optionally jittered): (crop, landmarks in crop)."""
    quad = ffhq_quad(*alignment_points(lm))
    if rng is not None:
        c = quad.mean(0)
        ang = np.radians(rng.uniform(-4, 4))
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        side = np.linalg.norm(quad[0] - quad[1])
        quad = (quad - c) @ rot.T * rng.uniform(0.94, 1.06) + c + rng.uniform(-0.03, 0.03, 2) * side
    t = transform_from_quad(quad, size)
    return t.warp_image(image), t.to_aligned(lm)


def to_net(image: np.ndarray, size: int) -> np.ndarray:
    """Aligned crop (any size) -> network input size, area-averaged."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def build_pool(faces: list[tuple[np.ndarray, np.ndarray]], occluders_dir: Path,
               cfg: TrainConfig, log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S, 3) uint8 composites and (N, S, S) uint8 masks, deterministic for the seed."""
    cutouts = load_cutouts(occluders_dir)
    pool = select_kinds(cutouts, None, list(cfg.holdout))
    log(f"training kinds: {', '.join(pool)} (held out: {', '.join(cfg.holdout) or 'none'})")
    s = cfg.input_size
    xs = np.zeros((cfg.pool, s, s, 3), np.uint8)
    ys = np.zeros((cfg.pool, s, s), np.uint8)

    def crop_source(rng: np.random.Generator) -> np.ndarray:
        img, lm = faces[int(rng.integers(len(faces)))]
        return _aligned(img, lm, cfg.synth_size, None)[0]

    for i in range(cfg.pool):
        rng = np.random.default_rng([cfg.seed, 7, i])
        img, lm = faces[int(rng.integers(len(faces)))]
        crop, lm_a = _aligned(img, lm, cfg.synth_size, rng)
        kind = CLEAN if rng.random() < cfg.clean_fraction else str(rng.choice(pool))
        res = synthesize(crop, lm_a, kind, rng, cutouts, crop_source)
        xs[i] = to_net(res.image, s)
        ys[i] = to_net(res.mask.astype(np.float32), s) > 0.5
        if (i + 1) % 500 == 0:
            log(f"{i + 1}/{cfg.pool} training composites")
    return xs, ys


def _augment(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    y = torch.where(flip[:, None, None], y.flip(-1), y)
    gain = 1 + 0.25 * (torch.rand(x.shape[0], 1, 1, 1, generator=g) - 0.5)
    bias = 0.1 * (torch.rand(x.shape[0], 3, 1, 1, generator=g) - 0.5)
    return (x * gain + bias).clamp(0, 1), y


def train(faces_dir: Path, occluders_dir: Path, cfg: TrainConfig,
          log: Callable[[str], None], detector=None, threads: int | None = None,
          ) -> tuple[TinyUNet, dict]:
    """Train a TinyUNet; returns it with a metadata dict (config, timings, final loss).

    ``threads`` caps torch's CPU threads for the run (on a shared, busy machine one thread
    is several times faster than two that spin-wait on each other).
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _train(faces_dir, occluders_dir, cfg, log, detector)
    finally:
        torch.set_num_threads(previous)


def _train(faces_dir: Path, occluders_dir: Path, cfg: TrainConfig,
           log: Callable[[str], None], detector) -> tuple[TinyUNet, dict]:
    t0 = time.perf_counter()
    paths = list_training_faces(faces_dir, cfg)
    if detector is None:
        from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

        detector = MediapipeFaceMesh(max_faces=1)
    faces = []
    for i, p in enumerate(paths):
        img = load_image(p)
        found = detector.detect(img)
        if found:
            faces.append((img, found[0].landmarks))
        if (i + 1) % 500 == 0:
            log(f"{i + 1}/{len(paths)} training faces detected")
    if not faces:
        raise DatasetError(faces_dir, "no face detected in any training photo")
    log(f"{len(faces)} training faces")
    xs, ys = build_pool(faces, occluders_dir, cfg, log)
    t_data = time.perf_counter() - t0
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    net = TinyUNet(cfg.base_channels)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    x_all = torch.from_numpy(xs).permute(0, 3, 1, 2)
    y_all = torch.from_numpy(ys)
    net.train()
    running = 0.0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(xs), (cfg.batch,), generator=g)
        x, y = _augment(x_all[idx].float() / 255, y_all[idx].float(), g)
        logits = net(x)
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * y).sum((1, 2)) + 1) / (p.sum((1, 2)) + y.sum((1, 2)) + 1)
        loss = nn_bce(logits, y) + 0.5 * dice.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.95 * running + 0.05 * loss.item() if step else loss.item()
        if (step + 1) % 100 == 0:
            log(f"step {step + 1}/{cfg.steps} loss {running:.3f}")
    net.eval()
    meta = {"config": asdict(cfg), "faces": len(faces), "final_loss": running,
            "data_seconds": round(t_data, 1), "seconds": round(time.perf_counter() - t0, 1)}
    return net, meta


def nn_bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)


def save_weights(path: Path, net: TinyUNet, meta: dict) -> None:
    import io

    buf = io.BytesIO()
    torch.save({"format": "s3pot-supervised-synth", "version": FORMAT_VERSION,
                "state_dict": net.state_dict(), "meta": meta}, buf)
    save_bytes(path, buf.getvalue())


def load_weights(path: Path) -> tuple[TinyUNet, dict]:
    from s3pot.errors import CheckpointError

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(path, "file not found") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
        raise CheckpointError(path, f"not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "s3pot-supervised-synth":
        raise CheckpointError(path, "not a supervised-synth checkpoint")
    meta = ckpt.get("meta", {})
    net = TinyUNet(meta.get("config", {}).get("base_channels", 8))
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    return net, meta
