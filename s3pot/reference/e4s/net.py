"""E4S's ``Net3``: region encoder + per-region MLPs + mask-guided StyleGAN2, as one module.

Inference path (E4S's ``get_style_vectors`` -> ``cal_style_codes`` -> ``gen_img``):
texture vectors from the 256-px face and its one-hot parsing, per-region W+ codes
= MLP_r(vector_r) + average latent (first K layers), the average latent for the remaining
layers, then the generator under the same parsing. ``latent_avg`` is stored next to the
state dict in the checkpoint (not inside it), so it is a non-persistent buffer here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from s3pot.reference.e4s.encoder import IRSE50_WIDTHS, LocalMLP, RegionStyleEncoder
from s3pot.reference.e4s.stylegan2 import MaskGuidedGenerator

ENCODER_INPUT = 256  # E4S resizes the face to 256 px before the encoder


@dataclass(frozen=True)
class E4SConfig:
    """Architecture; the defaults are the released ``iteration_300000.pt``."""

    num_regions: int = 12
    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    max_channels: int = 512
    channels: tuple[int, ...] | None = None  # explicit widths per resolution 4..size
    remaining_layer_idx: int = 13
    encoder_widths: tuple[int, ...] = IRSE50_WIDTHS


class E4SNet(nn.Module):
    """Attribute names ``encoder`` / ``MLPs`` / ``G`` are the checkpoint's key prefixes."""

    def __init__(self, cfg: E4SConfig | None = None):
        super().__init__()
        cfg = cfg or E4SConfig()
        self.validate(cfg)
        self.cfg = cfg
        self.encoder = RegionStyleEncoder(cfg.encoder_widths)
        self.G = MaskGuidedGenerator(
            size=cfg.size, style_dim=cfg.style_dim, n_mlp=cfg.n_mlp,
            channel_multiplier=cfg.channel_multiplier, max_channels=cfg.max_channels,
            channels=cfg.channels, remaining_layer_idx=cfg.remaining_layer_idx,
        )
        n_region_layers = self.G.num_region_layers
        self.MLPs = nn.ModuleList(
            LocalMLP(self.encoder.feature_dim, cfg.style_dim, n_region_layers)
            for _ in range(cfg.num_regions)
        )
        self.register_buffer("latent_avg", torch.zeros(self.G.n_latent, cfg.style_dim),
                             persistent=False)

    @staticmethod
    def validate(cfg: E4SConfig) -> None:
        """ValueError for configurations E4S's layer rules do not cover."""
        if cfg.size < 8 or cfg.size & (cfg.size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {cfg.size}")
        n_latent = 2 * cfg.size.bit_length() - 4
        k = cfg.remaining_layer_idx
        if not (1 <= k < n_latent and k % 2 == 1):
            raise ValueError(f"remaining_layer_idx must be odd in [1, {n_latent - 1}], got {k}")
        if cfg.num_regions < 1:
            raise ValueError("need at least one region")

    def style_vectors(self, image: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1], (B,R,H',W') one-hot -> (B,R,feature_dim)."""
        x = F.interpolate(image, (ENCODER_INPUT, ENCODER_INPUT), mode="bilinear", align_corners=False)
        return self.encoder(x, onehot)

    def style_codes(self, vectors: torch.Tensor) -> torch.Tensor:
        """(B,R,feature_dim) -> W+ codes (B,R,n_latent,style_dim) around the average latent."""
        codes = torch.stack([mlp(vectors[:, r]) for r, mlp in enumerate(self.MLPs)], dim=1)
        k = codes.shape[2]
        b, r = codes.shape[:2]
        codes = codes + self.latent_avg[:k]
        rest = self.latent_avg[k:].expand(b, r, -1, -1)
        return torch.cat([codes, rest], dim=2)

    def forward(self, image: torch.Tensor, onehot: torch.Tensor,
                randomize_noise: bool = False) -> torch.Tensor:
        """Regenerate ``image`` under ``onehot``: (B,3,size,size) in [-1,1] (unclamped)."""
        codes = self.style_codes(self.style_vectors(image, onehot))
        return self.G(codes, onehot, randomize_noise=randomize_noise)
