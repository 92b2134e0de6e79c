"""A compact U-Net (~0.5 M parameters): small enough to train on a CPU in minutes."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """Four-level U-Net, RGB in [0,1] -> one occlusion logit per pixel (input side % 16 == 0)."""

    def __init__(self, base: int = 16) -> None:
        super().__init__()
        c = [base, base * 2, base * 4, base * 8]
        self.enc = nn.ModuleList([_block(3, c[0]), _block(c[0], c[1]), _block(c[1], c[2]),
                                  _block(c[2], c[3])])
        self.mid = _block(c[3], c[3])
        self.up = nn.ModuleList([nn.ConvTranspose2d(c[3], c[3], 2, stride=2),
                                 nn.ConvTranspose2d(c[3], c[2], 2, stride=2),
                                 nn.ConvTranspose2d(c[2], c[1], 2, stride=2),
                                 nn.ConvTranspose2d(c[1], c[0], 2, stride=2)])
        self.dec = nn.ModuleList([_block(2 * c[3], c[3]), _block(2 * c[2], c[2]),
                                  _block(2 * c[1], c[1]), _block(2 * c[0], c[0])])
        self.head = nn.Conv2d(c[0], 1, 1)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.mid(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = dec(torch.cat([up(x), skip], 1))
        return self.head(x)[:, 0]
