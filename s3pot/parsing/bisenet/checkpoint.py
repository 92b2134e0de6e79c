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

from s3pot.checkpoints import check_keys, read_torch_file, strip_prefix
from s3pot.errors import CheckpointError
from s3pot.parsing.bisenet.model import BiSeNet, BiSeNetConfig

CELEBAMASK_CLASSES = 19


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, safely unpickled (``weights_only``), prefix stripped."""
    p = Path(path)
    obj = read_torch_file(p, "bisenet_celebamask")
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(p, "not a BiSeNet state dict (expected a mapping of tensors)")
    return strip_prefix(obj)


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


def load_bisenet(path: str | Path, device: str = "cpu") -> BiSeNet:
    """Build the network the file describes and load it strictly, in eval mode."""
    sd = load_state_dict_file(path)
    cfg = infer_config(sd, path)
    if cfg.n_classes != CELEBAMASK_CLASSES:
        raise CheckpointError(
            path, f"has {cfg.n_classes} output classes, expected the 19 CelebAMask-HQ classes"
        )
    net = BiSeNet(cfg)
    check_keys(net.state_dict(), sd, path, "the BiSeNet architecture")
    net.load_state_dict(sd, strict=True)
    return net.to(device).eval()


def save_bisenet(net: BiSeNet, path: str | Path) -> None:
    """Write ``net`` exactly as the release did: a bare state dict."""
    torch.save(net.state_dict(), Path(path))
