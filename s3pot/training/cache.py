"""On-disk cache of what training needs per face, computed once and reused across runs.

Per photo: for every face its reference, parsing, the raw and reference SAM embeddings and
the selected prompts (all frozen computations; only the screening network trains). An entry
is keyed by the SHA-256 of the photo's bytes and a key of the configuration (SAM weights,
face pipeline, prompt-selection knobs, cache format), so renaming a photo reuses its entry
and changing any setting never reuses a stale one. Entries are ``torch.save`` files of
tensors and plain values, read back with ``weights_only=True``, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

CACHE_VERSION = 1


def weights_fingerprint(path: str | Path, edge: int = 1 << 20) -> str:
    """Cheap identity of a (multi-GB) weights file: size plus its first and last MiB.

    Hashing all of vit_h (2.4 GB) per run would cost more than the cache saves; two
    different checkpoints of the same size that also agree on both ends do not occur.
    """
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(p, "rb") as f:
        h.update(f.read(edge))
        if size > edge:
            f.seek(max(size - edge, edge))
            h.update(f.read(edge))
    return h.hexdigest()


def config_key(config: dict) -> str:
    """Stable hash of a JSON-able configuration (plus the cache format version)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class EmbeddingCache:
    """``root/<digest[:2]>/<digest>-<config key>.pt`` holding a list of per-face records."""

    def __init__(self, root: str | Path, config: dict) -> None:
        self.root = Path(root)
        self.config = dict(config)
        self.key = config_key(self.config)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}-{self.key}.pt"

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def get(self, digest: str) -> list[dict] | None:
        p = self.path(digest)
        if not p.is_file():
            return None
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed, not fatal
            return None
        if not isinstance(obj, dict) or obj.get("key") != self.key:
            return None
        return obj["faces"]

    def put(self, digest: str, faces: list[dict], source: str = "") -> Path:
        p = self.path(digest)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
        os.close(fd)
        try:
            torch.save({"key": self.key, "source": source, "faces": faces}, tmp)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return p
