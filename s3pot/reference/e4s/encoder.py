"""E4S's region-wise style encoder (RGI): IR-SE-50 feature pyramid + masked pooling + MLPs.

The encoder is the pSp IR-SE-50 trunk with instance norm instead of batch norm (so it has
no running statistics), run on the face at 256 px. Three pyramid levels (end of stages 2,
3 and 4: 1/4, 1/8 and 1/16 of the input) are averaged under each parsing region's mask
and concatenated: one texture vector per region (256+512+512 = 1280 values). A small MLP
per region maps that vector to the region's W+ codes. Masked averaging is done with one
einsum instead of E4S's per-sample, per-region loops; an absent region gets a zero vector
exactly as in E4S.

Names follow E4S's state dict: ``encoder.input_layer.0.weight``,
``encoder.body.N.res_layer.5.fc1.weight``, ``MLPs.R.mlp.2.weight``...
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s3pot.reference.e4s.stylegan2 import EqualLinear

# Published trunk: stem width then the four stage widths, and the units per stage (the first
# unit of a stage has stride 2). Unit counts are fixed: the stage 3/4 boundary (512 -> 512)
# cannot be read off the tensor shapes, and narrow widths alone make test models cheap.
IRSE50_WIDTHS = (64, 128, 256, 512, 512)
IRSE50_UNITS = (3, 4, 14, 3)


class SEModule(nn.Module):
    """Squeeze-and-excitation channel gate (two bias-free 1x1 convs)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        mid = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, mid, 1, bias=False)
        self.fc2 = nn.Conv2d(mid, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * g


class BottleneckIRSE(nn.Module):
    """IR-SE unit with instance norm: IN, 3x3, PReLU, 3x3 (stride), IN, SE; plus shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        if cin == cout:  # E4S: MaxPool2d(1, stride), i.e. identity or 2x decimation
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride) if stride > 1 else nn.Identity()
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.InstanceNorm2d(cout)
            )
        self.res_layer = nn.Sequential(
            nn.InstanceNorm2d(cin),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, stride, 1, bias=False),
            nn.InstanceNorm2d(cout),
            SEModule(cout, 16),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class RegionStyleEncoder(nn.Module):
    """Image (B,3,256,256) in [-1,1] + one-hot regions -> (B,R,feature_dim) texture vectors."""

    def __init__(self, widths: tuple[int, ...] = IRSE50_WIDTHS,
                 units_per_stage: tuple[int, ...] = IRSE50_UNITS):
        super().__init__()
        if len(widths) != len(units_per_stage) + 1:
            raise ValueError("widths must hold the stem width plus one width per stage")
        stem = widths[0]
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.InstanceNorm2d(stem), nn.PReLU(stem)
        )
        units: list[nn.Module] = []
        ends = []
        for cin, cout, n in zip(widths[:-1], widths[1:], units_per_stage, strict=True):
            units.append(BottleneckIRSE(cin, cout, 2))
            units += [BottleneckIRSE(cout, cout, 1) for _ in range(n - 1)]
            ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        self.taps = tuple(ends[1:])  # E4S: units 6, 20, 23 of the published trunk
        self.feature_dim = sum(widths[2:])

    @staticmethod
    def masked_average(feat: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Mean feature under each region (nearest-resized mask); zeros where absent."""
        m = F.interpolate(onehot, size=feat.shape[2:], mode="nearest")
        sums = torch.einsum("brhw,bchw->brc", m, feat)
        counts = m.sum(dim=(2, 3)).unsqueeze(-1)
        return sums / counts.clamp(min=1.0)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        x = self.input_layer(x)
        codes = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.taps:
                codes.append(self.masked_average(x, onehot))
        return torch.cat(codes, dim=2)


class LocalMLP(nn.Module):
    """One region's texture vector -> its W+ codes (``mlp.0`` / ``mlp.2`` in the checkpoint)."""

    def __init__(self, din: int, style_dim: int, n_layers: int):
        super().__init__()
        self.style_dim, self.n_layers = style_dim, n_layers
        self.mlp = nn.Sequential(
            EqualLinear(din, style_dim), nn.LeakyReLU(), EqualLinear(style_dim, style_dim * n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).view(-1, self.n_layers, self.style_dim)
