"""The screening network: self-attention that re-weights the prompt embeddings.

The only trained part of S³POT. Each layer is one *post-norm* multi-head self-attention
(``x = LayerNorm(x + MHA(x, x, x))``) with no feed-forward block, as in the authors'
release: d = 256, 4 heads, one layer = 263,680 parameters. Prompts are a set, so there is
no positional term beyond what SAM's prompt encoder already put into each embedding.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from s3pot.errors import CheckpointError

CHECKPOINT_KIND = "s3pot-screening"


class ScreeningLayer(nn.Module):
    """One post-norm self-attention layer without FFN."""

    def __init__(self, dim: int = 256, heads: int = 4) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        out, _ = self.attn(x, x, x, key_padding_mask=padding, need_weights=False)
        return self.norm(x + out)


class ScreeningNetwork(nn.Module):
    """Prompt embeddings ``[B, N, d]`` -> screened embeddings ``[B, N, d]``.

    ``padding [B, N]`` (True = padding) keeps padded prompts out of every attention, so an
    image's result does not depend on what else is in its batch.
    """

    def __init__(self, dim: int = 256, heads: int = 4, depth: int = 1) -> None:
        super().__init__()
        self.config = {"dim": dim, "heads": heads, "depth": depth}
        self.layers = nn.ModuleList(ScreeningLayer(dim, heads) for _ in range(depth))

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        if padding is not None and padding.all(dim=1).any():
            # A row of only padding would make attention NaN; such rows are never used.
            padding = padding.clone()
            padding[padding.all(dim=1), 0] = False
        for layer in self.layers:
            x = layer(x, padding)
        return x


def fresh_screening(
    dim: int = 256, heads: int = 4, depth: int = 1, seed: int = 0
) -> ScreeningNetwork:
    """A newly initialised network, reproducible: the same seed gives the same weights."""
    devices = []  # fork_rng would otherwise warn about CUDA devices it cannot see
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return ScreeningNetwork(dim, heads, depth)


def save_screening(net: ScreeningNetwork, path: str | Path, **meta: object) -> None:
    """Write the weights-only file that ``--screening`` reads."""
    torch.save(
        {"kind": CHECKPOINT_KIND, "config": dict(net.config), "state_dict": net.state_dict(), **meta},
        path,
    )


def load_screening(path: str | Path, map_location: str = "cpu") -> ScreeningNetwork:
    """Load a screening network from ``screening.pt`` or a training checkpoint.

    Both hold ``kind``, ``config`` and the weights (a training checkpoint under
    ``screening``); anything else is a one-line :class:`CheckpointError`.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "screening checkpoint not found")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not ours"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(p, f"not a readable checkpoint ({msg[:120]})") from None
    if isinstance(obj, dict) and obj.get("kind") == "s3pot-train" and "screening" in obj:
        obj = obj["screening"]
    if not (isinstance(obj, dict) and obj.get("kind") == CHECKPOINT_KIND):
        raise CheckpointError(p, "not an s3pot screening checkpoint (train one with `s3pot train`)")
    cfg = obj.get("config", {})
    net = ScreeningNetwork(int(cfg.get("dim", 256)), int(cfg.get("heads", 4)), int(cfg.get("depth", 1)))
    try:
        net.load_state_dict(obj["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "missing weights"
        raise CheckpointError(p, f"screening weights do not fit their config ({first[:120]})") from None
    return net


def untrained_warning(seed: int) -> None:
    """Say once, loudly, that masks come from an untrained screening network."""
    warnings.warn(
        f"no --screening checkpoint: using a freshly initialised screening network (seed {seed}); "
        "masks are those of an untrained model. Train one with `s3pot train` or use --fit-steps N.",
        stacklevel=3,
    )
