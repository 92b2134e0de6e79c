"""BiSeNet for face parsing, in the layout of the 19-class CelebAMask-HQ release.

The widely used checkpoint ``79999_iter.pth`` (zllrunning/face-parsing.PyTorch) is a
BiSeNet whose spatial path was dropped in favour of the backbone's 1/8 feature map: a
ResNet-18 backbone feeds a context path (attention refinement on the 1/16 and 1/32 maps,
plus a global-average "tail"), the 1/8 backbone map and the context feature are fused
by a feature fusion module, and three heads predict 19 classes (the main one on the fused
feature; two auxiliary ones used only for training, kept so the checkpoint loads strictly).

Attribute names follow the checkpoint's state-dict keys exactly (``cp.resnet.layer2.0.
downsample.0.weight``, ``cp.arm16.conv_atten.weight``, ``ffm.convblk.conv.weight``,
``conv_out.conv_out.weight``, ...): that is what lets the file load with ``strict=True``.
Widths are constructor arguments so that tests can build a narrow random model in
milliseconds; the defaults are the published architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BiSeNetConfig:
    """Widths of the network. Defaults: the published 79999_iter.pth model."""

    n_classes: int = 19
    base_width: int = 64  # ResNet-18 stem width; stages are 1x, 2x, 4x, 8x this
    context_width: int = 128  # attention refinement / context path output
    fuse_width: int = 256  # feature fusion module output (and main head width)
    aux_width: int = 64  # hidden width of the two auxiliary heads


class ConvBNReLU(nn.Module):
    """conv (no bias) -> batch norm -> ReLU; the unit every BiSeNet block is made of."""

    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ks, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block; a 1x1 conv + BN shortcut where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Sequential | None = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x if self.downsample is None else self.downsample(x)
        return F.relu(short + res)


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))


class ResNet18(nn.Module):
    """ResNet-18 trunk returning the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(w, w, 1)
        self.layer2 = _stage(w, 2 * w, 2)
        self.layer3 = _stage(2 * w, 4 * w, 2)
        self.layer4 = _stage(4 * w, 8 * w, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feat8 = self.layer2(self.layer1(x))
        feat16 = self.layer3(feat8)
        feat32 = self.layer4(feat16)
        return feat8, feat16, feat32


class AttentionRefinementModule(nn.Module):
    """Channel attention from global pooling re-weights a conv feature."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, cout)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        att = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))
        return feat * att


class ContextPath(nn.Module):
    """Backbone + top-down refinement; returns (1/8 backbone map, context at 1/8, at 1/16)."""

    def __init__(self, cfg: BiSeNetConfig):
        super().__init__()
        w, c = cfg.base_width, cfg.context_width
        self.resnet = ResNet18(w)
        self.arm16 = AttentionRefinementModule(4 * w, c)
        self.arm32 = AttentionRefinementModule(8 * w, c)
        self.conv_head32 = ConvBNReLU(c, c)
        self.conv_head16 = ConvBNReLU(c, c)
        self.conv_avg = ConvBNReLU(8 * w, c, ks=1, padding=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        avg = self.conv_avg(F.adaptive_avg_pool2d(feat32, 1))
        feat32_sum = self.arm32(feat32) + F.interpolate(avg, feat32.shape[2:], mode="nearest")
        feat32_up = self.conv_head32(F.interpolate(feat32_sum, feat16.shape[2:], mode="nearest"))
        feat16_sum = self.arm16(feat16) + feat32_up
        feat16_up = self.conv_head16(F.interpolate(feat16_sum, feat8.shape[2:], mode="nearest"))
        return feat8, feat16_up, feat32_up


class FeatureFusionModule(nn.Module):
    """Concatenate spatial and context features, then a squeeze-excite style re-weighting."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, ks=1, padding=0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, fsp: torch.Tensor, fcp: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([fsp, fcp], dim=1))
        att = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat + feat * att


class BiSeNetOutput(nn.Module):
    """3x3 ConvBNReLU then a 1x1 classifier (no bias)."""

    def __init__(self, cin: int, mid: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid)
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """Face-parsing BiSeNet; ``forward`` returns main-head logits at the input size.

    The spatial-path feature is the backbone's 1/8 map (as in the released model). The two
    auxiliary heads only exist so that the checkpoint loads strictly; inference skips them.
    """

    def __init__(self, cfg: BiSeNetConfig | None = None):
        super().__init__()
        cfg = cfg or BiSeNetConfig()
        self.cfg = cfg
        c = cfg.context_width
        self.cp = ContextPath(cfg)
        self.ffm = FeatureFusionModule(2 * cfg.base_width + c, cfg.fuse_width)
        self.conv_out = BiSeNetOutput(cfg.fuse_width, cfg.fuse_width, cfg.n_classes)
        self.conv_out16 = BiSeNetOutput(c, cfg.aux_width, cfg.n_classes)
        self.conv_out32 = BiSeNetOutput(c, cfg.aux_width, cfg.n_classes)

    def forward(self, x: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``x``: (B,3,H,W) ImageNet-normalised. Logits (B,n_classes,*out_size) (default H,W),
        upsampled bilinearly with aligned corners as in the release."""
        feat8, feat_cp8, _ = self.cp(x)
        logits = self.conv_out(self.ffm(feat8, feat_cp8))
        size = out_size or tuple(x.shape[2:])
        return F.interpolate(logits, size, mode="bilinear", align_corners=True)
