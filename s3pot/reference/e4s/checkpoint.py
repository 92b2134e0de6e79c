"""Reading and writing E4S checkpoints in the released layout (``iteration_300000.pt``).

The release is E4S's training checkpoint: a dict with ``state_dict`` (the ``Net3`` weights,
saved from DistributedDataParallel, hence a ``module.`` prefix that E4S's own demo strips),
``latent_avg`` (the StyleGAN2 average latent repeated per W+ layer, (18, 512)) and
``opts``; training copies (``state_dict_ema``, ``D_state_dict``) may sit alongside and are
ignored -- E4S's inference reads ``state_dict``, and so do we.

The architecture is read off the tensor shapes (widths, output size, number of regions and
of region-wise layers), so narrow test models go through the same loader. Any key or shape
disagreement after that is a one-line :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from s3pot.checkpoints import check_keys, read_torch_file, strip_prefix
from s3pot.errors import CheckpointError
from s3pot.reference.e4s.net import E4SConfig, E4SNet

STATE_KEY = "state_dict"
LATENT_KEY = "latent_avg"
PREFIX = "module."


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Top-level dict of the file, unpickled with ``weights_only`` (no code execution)."""
    p = Path(path)
    obj = read_torch_file(p, "e4s")
    if not isinstance(obj, Mapping) or not isinstance(obj.get(STATE_KEY), Mapping):
        raise CheckpointError(p, f"not an E4S checkpoint (no '{STATE_KEY}' dict at top level)")
    if not isinstance(obj.get(LATENT_KEY), torch.Tensor):
        raise CheckpointError(p, f"not an E4S checkpoint (no '{LATENT_KEY}' tensor at top level)")
    return dict(obj)


def _need(sd: Mapping[str, torch.Tensor], key: str, path: Path) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(path, f"not an E4S checkpoint: missing key '{key}'")
    return tuple(sd[key].shape)


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.fullmatch(k))})


def infer_config(sd: Mapping[str, torch.Tensor], path: str | Path) -> E4SConfig:
    """Architecture from tensor shapes (published file -> the defaults of :class:`E4SConfig`)."""
    p = Path(path)
    n_regions = _count(sd, r"MLPs\.(\d+)\.mlp\.0\.weight")
    n_mlp = _count(sd, r"G\.style\.(\d+)\.weight")
    n_rgbs = _count(sd, r"G\.to_rgbs\.(\d+)\.conv\.weight")
    if n_regions == 0 or n_rgbs == 0:
        raise CheckpointError(p, "not an E4S checkpoint: no 'MLPs.*' or 'G.to_rgbs.*' weights")
    style_dim = _need(sd, "G.conv1.conv.modulation.weight", p)[1]
    size = 2 ** (n_rgbs + 2)
    n_latent = 2 * (n_rgbs + 2) - 2
    channels = [_need(sd, "G.input.input", p)[1]]
    channels += [_need(sd, f"G.convs.{2 * b}.conv.weight", p)[1] for b in range(n_rgbs)]
    region_layers = _need(sd, "MLPs.0.mlp.2.weight", p)[0] // style_dim
    k = n_latent - 1 if region_layers == n_latent else region_layers
    enc = (_need(sd, "encoder.input_layer.0.weight", p)[0],)
    enc += tuple(_need(sd, f"encoder.body.{i}.res_layer.1.weight", p)[0] for i in (0, 3, 7, 21))
    try:
        cfg = E4SConfig(num_regions=n_regions, size=size, style_dim=style_dim, n_mlp=n_mlp,
                        channels=tuple(channels), remaining_layer_idx=k, encoder_widths=enc)
        E4SNet.validate(cfg)
    except ValueError as exc:
        raise CheckpointError(p, f"not an E4S architecture: {exc}") from None
    return cfg


def load_e4s(path: str | Path, device: str = "cpu") -> E4SNet:
    """Build the network the file describes, load it strictly, set ``latent_avg``; eval mode."""
    p = Path(path)
    ckpt = read_checkpoint(p)
    sd = strip_prefix(ckpt[STATE_KEY], PREFIX)
    cfg = infer_config(sd, p)
    with torch.device("meta"):
        net = E4SNet(cfg)
    check_keys(net.state_dict(), sd, p, "the E4S architecture")
    net = net.to_empty(device="cpu")
    net.load_state_dict(sd, strict=True)
    net.latent_avg = _latent_avg(ckpt[LATENT_KEY], net, p)
    return net.to(device).eval()


def _latent_avg(t: torch.Tensor, net: E4SNet, path: Path) -> torch.Tensor:
    """(n_latent, D) average latent; a single (D,) or (1, D) vector is repeated (W space)."""
    n, d = net.G.n_latent, net.cfg.style_dim
    t = t.detach().float().cpu()
    if t.shape == (n, d):
        return t.clone()
    if t.numel() == d:
        return t.reshape(1, d).repeat(n, 1)
    raise CheckpointError(path, f"latent_avg has shape {tuple(t.shape)}, expected ({n}, {d})")


def save_e4s(net: E4SNet, path: str | Path, opts: Mapping[str, Any] | None = None) -> None:
    """Write ``net`` in the released layout (``module.``-prefixed state dict + latent_avg)."""
    sd = {PREFIX + k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({STATE_KEY: sd, LATENT_KEY: net.latent_avg.detach().cpu(),
                "opts": dict(opts or {})}, Path(path))
