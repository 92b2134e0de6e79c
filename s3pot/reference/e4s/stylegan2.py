"""StyleGAN2 generator with E4S's mask-guided style injection.

E4S keeps StyleGAN2 (config-f, 1024 px) and changes one thing: in the first K layers
(K = ``remaining_layer_idx``, 13 in the release) every face region r has its own style
code w_r, and a layer's output is sum_r mask_r * conv(x; w_r) -- the same weights,
modulated per region, composed under the (nearest-resized) parsing mask. The later layers
take one shared code (the average latent), as in plain StyleGAN2.

Module and parameter names follow the rosinality StyleGAN2 port that E4S builds on
(``convs.N.conv.modulation.weight``, ``to_rgbs.N.upsample.kernel``, ``noises.noise_N``...),
so E4S's ``G.*`` state dict loads strictly. Widths and output size are constructor
arguments (tests build 64-px, 16-channel models); defaults are the released generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from s3pot.reference.e4s.ops import FusedLeakyReLU, fused_leaky_relu, make_kernel, upfirdn2d

BLUR_KERNEL = (1, 3, 3, 1)


def stylegan_channels(size: int, channel_multiplier: int = 2, max_channels: int = 512
                      ) -> dict[int, int]:
    """Feature width per resolution of StyleGAN2 config-f, optionally capped."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
            128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
            512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: min(c, max_channels) for r, c in base.items() if r <= size}


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (runtime weight scaling)."""

    def __init__(self, din: int, dout: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dout, din).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((dout,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(din)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            out = F.linear(x, self.weight * self.scale)
            return fused_leaky_relu(out, bias) if bias is not None else F.leaky_relu(out, 0.2) * math.sqrt(2)
        return F.linear(x, self.weight * self.scale, bias)


class Blur(nn.Module):
    """FIR low-pass (``kernel`` buffer, as in the checkpoint)."""

    def __init__(self, pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(BLUR_KERNEL) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip connection."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(BLUR_KERNEL) * factor**2)
        p = len(BLUR_KERNEL) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and optionally demodulated) conv; 2x transposed conv + blur to upsample."""

    def __init__(self, cin: int, cout: int, ks: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.cin, self.cout, self.ks = cin, cout, ks
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            p = (len(BLUR_KERNEL) - 2) - (ks - 1)
            self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1.0 / math.sqrt(cin * ks * ks)
        self.padding = ks // 2
        self.weight = nn.Parameter(torch.randn(1, cout, cin, ks, ks))
        self.modulation = EqualLinear(style_dim, cin, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` (B,cin,H,W), ``style`` (B,style_dim) -> (B,cout,H',W')."""
        b, cin, h, w = x.shape
        s = self.modulation(style).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, -1, 1, 1, 1)
        x = x.reshape(1, b * cin, h, w)
        if self.upsample:
            wt = weight.transpose(1, 2).reshape(b * cin, self.cout, self.ks, self.ks)
            out = F.conv_transpose2d(x, wt, stride=2, groups=b)
            out = self.blur(out.view(b, self.cout, *out.shape[2:]))
        else:
            wt = weight.reshape(b * self.cout, cin, self.ks, self.ks)
            out = F.conv2d(x, wt, padding=self.padding, groups=b)
            out = out.view(b, self.cout, *out.shape[2:])
        return out


def _masked_sum(conv: ModulatedConv2d, x: torch.Tensor, styles: torch.Tensor,
                masks: torch.Tensor) -> torch.Tensor:
    """sum_r masks[:, r] * conv(x; styles[:, r]) -- E4S's mask-guided injection.

    Regions absent from the (resized) mask contribute exactly zero, so they are skipped:
    on a face that saves a few of the twelve passes at no change in the result.
    """
    out = None
    present = masks.flatten(2).amax(dim=2).amax(dim=0) > 0  # (R,)
    for r in torch.nonzero(present).flatten().tolist():
        y = conv(x, styles[:, r]) * masks[:, r: r + 1]
        out = y if out is None else out + y
    if out is None:  # empty mask: every region absent
        h, w = masks.shape[2:]
        out = x.new_zeros(x.shape[0], conv.cout, h, w)
    return out


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv (+ optional region-wise injection), noise, biased leaky ReLU."""

    def __init__(self, cin: int, cout: int, style_dim: int, upsample: bool = False,
                 mask_op: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(cout)
        self.mask_op = mask_op

    def forward(self, x: torch.Tensor, style: torch.Tensor, mask: torch.Tensor,
                noise: torch.Tensor | None) -> torch.Tensor:
        if self.mask_op:  # style (B,R,D)
            size = (x.shape[2] * 2, x.shape[3] * 2) if self.conv.upsample else x.shape[2:]
            out = _masked_sum(self.conv, x, style, F.interpolate(mask, size=size, mode="nearest"))
        else:  # style (B,D)
            out = self.conv(x, style)
        return self.activate(self.noise(out, noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (+ optional region-wise injection), added to the skip."""

    def __init__(self, cin: int, style_dim: int, upsample: bool = True, mask_op: bool = False):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.mask_op = mask_op

    def forward(self, x: torch.Tensor, style: torch.Tensor, mask: torch.Tensor,
                skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.mask_op:
            out = _masked_sum(self.conv, x, style, F.interpolate(mask, size=x.shape[2:], mode="nearest"))
        else:
            out = self.conv(x, style)
        out = out + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class MaskGuidedGenerator(nn.Module):
    """E4S's generator ``G``: per-region W+ codes composed under the parsing mask.

    ``remaining_layer_idx`` (K): latent layers with index < K take one code per region;
    the rest take a shared code. K = n_latent - 1 means every layer is region-wise (E4S's
    special case K=17 at 1024 px).
    """

    def __init__(self, size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: int = 2, max_channels: int = 512, lr_mlp: float = 0.01,
                 remaining_layer_idx: int = 13, channels: tuple[int, ...] | None = None):
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.log_size = int(math.log2(size))
        if 2**self.log_size != size or size < 8:
            raise ValueError(f"generator size must be a power of two >= 8, got {size}")
        self.n_latent = self.log_size * 2 - 2
        self.num_layers = (self.log_size - 2) * 2 + 1
        k = remaining_layer_idx
        if not (1 <= k < self.n_latent and k % 2 == 1):
            # E4S's layer rule (a block's two convs share one flag) is only defined for odd K.
            raise ValueError(f"remaining_layer_idx must be odd in [1, {self.n_latent - 1}], got {k}")
        self.remaining_layer_idx = k

        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)],
        )
        if channels is None:
            ch = stylegan_channels(size, channel_multiplier, max_channels)
        else:  # explicit widths for resolutions 4, 8, ..., size
            if len(channels) != self.log_size - 1:
                raise ValueError(f"need {self.log_size - 1} channel widths for size {size}")
            ch = {2 ** (i + 2): int(c) for i, c in enumerate(channels)}
        self.channels = ch

        self.input = ConstantInput(ch[4])
        # The 4x4 conv and its RGB layer are always region-wise in E4S (latent 0 and 1 < K).
        self.conv1 = StyledConv(ch[4], ch[4], style_dim, mask_op=True)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False, mask_op=True)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2**i]
            j = 2 * (i - 3) + 1  # latent index of this block's first conv
            self.convs.append(StyledConv(cin, cout, style_dim, upsample=True, mask_op=self.region_wise(j)))
            self.convs.append(StyledConv(cout, cout, style_dim, mask_op=self.region_wise(j + 1)))
            self.to_rgbs.append(ToRGB(cout, style_dim, mask_op=self.region_wise(j + 2)))
            cin = cout

    def region_wise(self, latent_index: int) -> bool:
        """Does the layer fed by this latent index take one style per region?"""
        k = self.remaining_layer_idx
        return k == self.n_latent - 1 or latent_index < k

    @property
    def num_region_layers(self) -> int:
        """How many W+ layers each region's MLP predicts (E4S: K, or all 18 when K=17)."""
        k = self.remaining_layer_idx
        return self.n_latent if k == self.n_latent - 1 else k

    def _style(self, latent: torch.Tensor, j: int, layer: nn.Module) -> torch.Tensor:
        return latent[:, :, j] if layer.mask_op else latent[:, 0, j]

    def forward(self, latent: torch.Tensor, mask: torch.Tensor,
                randomize_noise: bool = False) -> torch.Tensor:
        """``latent`` (B,R,n_latent,D) W+ codes per region; ``mask`` (B,R,H,W) one-hot.

        Returns the image (B,3,size,size) in [-1,1] (unclamped). With ``randomize_noise``
        False the stored noise maps are used, so the output is deterministic.
        """
        noise: list[torch.Tensor | None]
        if randomize_noise:
            noise = [None] * self.num_layers
        else:
            noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        out = self.input(latent.shape[0])
        out = self.conv1(out, self._style(latent, 0, self.conv1), mask, noise[0])
        skip = self.to_rgb1(out, self._style(latent, 1, self.to_rgb1), mask)
        j = 1
        for conv_up, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                 noise[2::2], self.to_rgbs, strict=True):
            out = conv_up(out, self._style(latent, j, conv_up), mask, n1)
            out = conv(out, self._style(latent, j + 1, conv), mask, n2)
            skip = to_rgb(out, self._style(latent, j + 2, to_rgb), mask, skip)
            j += 2
        return skip
