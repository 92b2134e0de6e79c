"""Reading and writing ``79999_iter.pth`` (a bare state dict) with strict key checks.

The release is a plain ``torch.save(net.state_dict())``; some re-uploads were saved from a
``DataParallel`` wrapper, so a leading ``module.`` is accepted. Everything else must match
key for key and shape for shape: a partial load would give a parser that silently labels
faces at random, which is worse than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from s3pot.errors import CheckpointError
from s3pot.parsing.bisenet.model import BiSeNet, BiSeNetConfig

CELEBAMASK_CLASSES = 19


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, safely unpickled (``weights_only``), prefix stripped."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "file not found (download it with `s3pot weights download bisenet_celebamask`)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not this file"
        raise CheckpointError(p, f"not a readable PyTorch checkpoint ({type(exc).__name__})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(p, "not a BiSeNet state dict (expected a mapping of tensors)")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _shape(sd: Mapping[str, torch.Tensor], key: str, path: Path) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(path, f"not a face-parsing BiSeNet checkpoint: missing key '{key}'")
    return tuple(sd[key].shape)


def infer_config(sd: Mapping[str, torch.Tensor], path: str | Path) -> BiSeNetConfig:
    """Widths read off the tensors, so narrow test models load through the same path."""
    p = Path(path)
    return BiSeNetConfig(
        n_classes=_shape(sd, "conv_out.conv_out.weight", p)[0],
        base_width=_shape(sd, "cp.resnet.conv1.weight", p)[0],
        context_width=_shape(sd, "cp.arm16.conv.conv.weight", p)[0],
        fuse_width=_shape(sd, "ffm.convblk.conv.weight", p)[0],
        aux_width=_shape(sd, "conv_out16.conv.conv.weight", p)[0],
    )


def check_keys(
    model_sd: Mapping[str, torch.Tensor], file_sd: Mapping[str, torch.Tensor], path: str | Path
) -> None:
    """One-line CheckpointError naming the file when keys or shapes differ."""
    missing = [k for k in model_sd if k not in file_sd]
    unexpected = [k for k in file_sd if k not in model_sd]
    wrong = [
        f"{k} {tuple(file_sd[k].shape)} != {tuple(v.shape)}"
        for k, v in model_sd.items()
        if k in file_sd and tuple(file_sd[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatches", wrong)):
        if items:
            shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
            problems.append(f"{len(items)} {label} ({shown})")
    if problems:
        raise CheckpointError(path, "does not match the architecture: " + "; ".join(problems))


def load_bisenet(path: str | Path, device: str = "cpu") -> BiSeNet:
    """Build the network the file describes and load it strictly, in eval mode."""
    sd = load_state_dict_file(path)
    cfg = infer_config(sd, path)
    if cfg.n_classes != CELEBAMASK_CLASSES:
        raise CheckpointError(
            path, f"has {cfg.n_classes} output classes, expected the 19 CelebAMask-HQ classes"
        )
    net = BiSeNet(cfg)
    check_keys(net.state_dict(), sd, path)
    net.load_state_dict(sd, strict=True)
    return net.to(device).eval()


def save_bisenet(net: BiSeNet, path: str | Path) -> None:
    """Write ``net`` exactly as the release did: a bare state dict."""
    torch.save(net.state_dict(), Path(path))
