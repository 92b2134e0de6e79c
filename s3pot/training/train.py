"""Training loop of the screening network, single process or DDP (torchrun).

Only the screening network has trainable weights; SAM is frozen and its embeddings and
prompts come from the on-disk cache. AdamW (lr 1e-4, weight decay 1e-6), a cosine schedule
over all optimiser steps, a checkpoint every epoch with optimiser and scheduler state.
The data order of an epoch depends only on (seed, epoch) through a DistributedSampler,
so ``resume`` continues exactly where a run stopped: the resumed weights equal those of an
uninterrupted run.

Multi-process: launch with ``torchrun --nproc_per_node N -m s3pot.cli.main train ...``
(NCCL on GPUs, gloo on CPU); each process prepares its share of the cache, then trains on
its shard with gradients averaged by DistributedDataParallel. Rank 0 writes checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from s3pot.backbone.sam import SamBackbone
from s3pot.errors import CheckpointError, S3potError
from s3pot.image_io import load_image
from s3pot.prompts.selection import pad_prompts
from s3pot.screening import CHECKPOINT_KIND, fresh_screening, save_screening
from s3pot.segmenters.sam import batch_loss, pair_prompts
from s3pot.training.cache import EmbeddingCache, weights_fingerprint
from s3pot.training.data import Preparer, list_training_images, pipeline_preparer
from s3pot.weights import sha256_file

TRAIN_KIND = "s3pot-train"


@dataclass
class TrainConfig:
    """Everything a run depends on; stored in every checkpoint."""

    data_dir: str
    run_dir: str
    sam_checkpoint: str
    model_type: str | None = None
    epochs: int = 50
    batch_size: int = 3  # per process
    lr: float = 1e-4
    weight_decay: float = 1e-6
    depth: int = 1
    heads: int = 4
    seed: int = 0
    threshold: float | None = None
    top_k: int | None = None
    align_size: int = 1024
    parser: str = "landmarks"
    generator: str = "pca"
    parser_kwargs: dict = field(default_factory=dict)
    generator_kwargs: dict = field(default_factory=dict)
    cache_dir: str | None = None  # default: $S3POT_HOME/train-cache, shared by every run
    device: str = "cpu"
    resume: bool = False
    stop_after_epoch: int | None = None  # end this invocation after that epoch (split runs)
    preparer_id: str | None = None  # cache identity of a custom preparer (default: the pipeline)

    def cache_root(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        from s3pot.weights import cache_dir

        return cache_dir() / "train-cache"

    def cache_config(self) -> dict:
        """What the cached values depend on (not epochs, lr, ... which only the loop uses)."""
        return {
            "sam": weights_fingerprint(self.sam_checkpoint),
            "threshold": self.threshold,
            "top_k": self.top_k,
            "preparer": self.preparer_id
            or {
                "align_size": self.align_size,
                "parser": self.parser,
                "parser_kwargs": self.parser_kwargs,
                "generator": self.generator,
                "generator_kwargs": self.generator_kwargs,
            },
        }


# Fields that must agree between a run and its resumption (others, e.g. device, may differ).
_RESUME_FIXED = ("epochs", "batch_size", "lr", "weight_decay", "depth", "heads", "seed", "threshold", "top_k")


def _log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(f"s3pot train: {msg}", file=sys.stderr, flush=True)


def _dist_info() -> tuple[int, int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def _setup_distributed(device: str) -> bool:
    """Join the process group torchrun described in the environment; True if we created it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    return True


def _record(pair, face) -> dict:
    d = pair.to_dict()
    d = {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in d.items()}
    d["reference"] = torch.from_numpy(face.reference.copy())
    d["parsing"] = torch.from_numpy(face.parsing.copy())
    return d


def build_cache(
    config: TrainConfig, backbone: SamBackbone, preparer: Preparer | None = None
) -> tuple[EmbeddingCache, list[tuple[str, int]]]:
    """Fill the cache for every photo (each process its share) and list the usable faces.

    Returns the cache and the training items ``(photo digest, face index)``; faces with
    no face token in M give no prompt and are left out.
    """
    rank, world, _ = _dist_info()
    images = list_training_images(config.data_dir)
    if not images:
        raise S3potError(f"{config.data_dir}: no photos found (looked for image files, skipping masks)")
    cache = EmbeddingCache(config.cache_root(), config.cache_config())
    digests = [sha256_file(p) for p in images]
    first = {}  # one preparation per distinct content, however many names it has
    for i, d in enumerate(digests):
        first.setdefault(d, i)
    todo = [i for n, i in enumerate(first.values()) if n % world == rank and not cache.has(digests[i])]
    if todo:
        _log(f"preparing {len(todo)} photo(s) (faces, parsing, reference, SAM embeddings)", rank)
    for n, i in enumerate(todo):
        if preparer is None:
            preparer = pipeline_preparer(
                config.align_size, config.parser, config.generator, config.parser_kwargs, config.generator_kwargs
            )
        faces = preparer(load_image(images[i]))
        records = []
        for face in faces:
            pair = pair_prompts(
                backbone, face.aligned, face.reference, face.parsing, config.threshold, config.top_k
            )
            records.append(_record(pair, face))
        cache.put(digests[i], records, source=images[i].name)
        _log(f"  [{n + 1}/{len(todo)}] {images[i].name}: {len(records)} face(s)", rank)
    if world > 1:
        dist.barrier()
    items = []
    for d in sorted(set(digests)):
        faces = cache.get(d)
        if faces is None:
            raise S3potError(f"cache entry for {d[:12]} missing or unreadable after preparation")
        items.extend((d, k) for k, f in enumerate(faces) if len(f["labels"]) > 0)
    return cache, items


def _checkpoint(config, net, opt, sched, epoch, history) -> dict:
    module = net.module if isinstance(net, DistributedDataParallel) else net
    return {
        "kind": TRAIN_KIND,
        "version": 1,
        "epoch": epoch,
        "config": asdict(config),
        "screening": {"kind": CHECKPOINT_KIND, "config": dict(module.config), "state_dict": module.state_dict()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "history": history,
    }


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(config: TrainConfig, preparer: Preparer | None = None) -> dict:
    """Run (or resume) training; returns ``{"epochs_done", "history", "run_dir"}``."""
    created = _setup_distributed(config.device)
    try:
        return _train(config, preparer)
    finally:
        if created:
            dist.destroy_process_group()


def _train(config: TrainConfig, preparer: Preparer | None) -> dict:
    rank, world, local_rank = _dist_info()
    device = config.device
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
    run_dir = Path(config.run_dir)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    backbone = SamBackbone.from_checkpoint(config.sam_checkpoint, config.model_type).to(device)
    _, items = build_cache(config, backbone, preparer)
    if not items:
        raise S3potError(f"{config.data_dir}: no usable face found in any photo")
    cache = EmbeddingCache(config.cache_root(), config.cache_config())

    net = fresh_screening(backbone.prompt_dim, config.heads, config.depth, seed=config.seed).to(device)
    model = DistributedDataParallel(net) if world > 1 else net
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sampler = DistributedSampler(items, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs * steps_per_epoch))

    start, history = 1, []
    last = run_dir / "last.pt"
    if config.resume:
        if not last.is_file():
            raise CheckpointError(last, "nothing to resume (no checkpoint in the run folder)")
        ckpt = torch.load(last, map_location=device, weights_only=True)
        if ckpt.get("kind") != TRAIN_KIND:
            raise CheckpointError(last, "not an s3pot training checkpoint")
        for k in _RESUME_FIXED:
            if ckpt["config"].get(k) != getattr(config, k):
                raise CheckpointError(last, f"was trained with {k}={ckpt['config'].get(k)!r}, not {getattr(config, k)!r}")
        net.load_state_dict(ckpt["screening"]["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start, history = int(ckpt["epoch"]) + 1, list(ckpt["history"])
        _log(f"resuming after epoch {ckpt['epoch']}", rank)

    memo: dict[str, list[dict]] = {}

    def face(item: tuple[str, int]) -> dict:
        d, k = item
        if d not in memo:
            if len(memo) > 64:
                memo.clear()
            memo[d] = cache.get(d)
        return memo[d][k]

    _log(f"{len(items)} face(s), {world} process(es), {steps_per_epoch} step(s)/epoch, device {device}", rank)
    end = config.epochs if config.stop_after_epoch is None else min(config.epochs, config.stop_after_epoch)
    for epoch in range(start, end + 1):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        order = list(sampler)
        model.train()
        total, count = torch.zeros(2, dtype=torch.float64), 0
        for s in range(0, len(order), config.batch_size):
            batch = [face(items[i]) for i in order[s : s + config.batch_size]]
            e_i = torch.stack([b["e_i"] for b in batch]).to(device)
            coords, labels = pad_prompts([(b["coords"], b["labels"]) for b in batch])
            terms = batch_loss(backbone, model, e_i, coords, labels)
            opt.zero_grad(set_to_none=True)
            terms.total.backward()
            opt.step()
            sched.step()
            total += torch.tensor([float(terms.total.detach()) * len(batch), len(batch)], dtype=torch.float64)
            count += 1
        if world > 1:
            dist.all_reduce(total)
        entry = {
            "epoch": epoch,
            "loss": float(total[0] / max(total[1], 1)),
            "lr": float(sched.get_last_lr()[0]),
            "steps": count,
            "world_size": world,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        history.append(entry)
        if rank == 0:
            ckpt = _checkpoint(config, model, opt, sched, epoch, history)
            _save_atomic(ckpt, run_dir / f"epoch_{epoch:03d}.pt")
            _save_atomic(ckpt, last)
            save_screening(net, run_dir / "screening.pt", epoch=epoch)
            with open(run_dir / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            _log(f"epoch {epoch}/{config.epochs} loss {entry['loss']:.4f} lr {entry['lr']:.2e} ({entry['seconds']} s)")
        if world > 1:
            dist.barrier()
    return {"epochs_done": history[-1]["epoch"] if history else 0, "history": history, "run_dir": str(run_dir)}


def spawn_worker(rank: int, world_size: int, port: int, config: TrainConfig, preparer: Preparer | None = None) -> None:
    """Entry point for ``torch.multiprocessing.spawn``: the torchrun environment by hand."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
        }
    )
    torch.set_num_threads(1)
    train(config, preparer)
