"""E4S generator: published key layout, strict loading, op equivalences, real-face run.

No weights can be downloaded here: a narrow random E4S (64-px generator, 16 channels) is
saved in the release's layout and loaded back through ``build_generator("e4s", ...)``.
The full-width network is only ever built on the meta device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import parse_key_list

from s3pot.errors import CheckpointError
from s3pot.parsing.base import CLASS_ID
from s3pot.reference.base import build_generator
from s3pot.reference.e4s import E4SConfig, E4SNet, save_e4s
from s3pot.reference.e4s.encoder import RegionStyleEncoder
from s3pot.reference.e4s.ops import make_kernel, upfirdn2d
from s3pot.reference.e4s.stylegan2 import (
    MaskGuidedGenerator,
    ModulatedConv2d,
    Upsample,
    _masked_sum,
)

NARROW = E4SConfig(size=64, style_dim=32, n_mlp=2, max_channels=16, remaining_layer_idx=7,
                   encoder_widths=(8, 16, 16, 32, 32))

# State-dict keys and shapes of E4S's released ``iteration_300000.pt`` ('state_dict' entry,
# after E4S's own removal of the DistributedDataParallel 'module.' prefix): IR-SE-50 region
# encoder with instance norm, 12 per-region MLPs to 13 W+ layers, StyleGAN2 config-f
# 1024-px generator with its blur kernels and stored noise maps. 344 tensors, written out
# from the published architecture.
PUBLISHED_KEYS = """
encoder.input_layer.0.weight 64x3x3x3
encoder.input_layer.2.weight 64
encoder.body.0.shortcut_layer.0.weight 128x64x1x1
encoder.body.0.res_layer.1.weight 128x64x3x3
encoder.body.0.res_layer.2.weight 128
encoder.body.0.res_layer.3.weight 128x128x3x3
encoder.body.0.res_layer.5.fc1.weight 8x128x1x1
encoder.body.0.res_layer.5.fc2.weight 128x8x1x1
encoder.body.1.res_layer.1.weight 128x128x3x3
encoder.body.1.res_layer.2.weight 128
encoder.body.1.res_layer.3.weight 128x128x3x3
encoder.body.1.res_layer.5.fc1.weight 8x128x1x1
encoder.body.1.res_layer.5.fc2.weight 128x8x1x1
encoder.body.2.res_layer.1.weight 128x128x3x3
encoder.body.2.res_layer.2.weight 128
encoder.body.2.res_layer.3.weight 128x128x3x3
encoder.body.2.res_layer.5.fc1.weight 8x128x1x1
encoder.body.2.res_layer.5.fc2.weight 128x8x1x1
encoder.body.3.shortcut_layer.0.weight 256x128x1x1
encoder.body.3.res_layer.1.weight 256x128x3x3
encoder.body.3.res_layer.2.weight 256
encoder.body.3.res_layer.3.weight 256x256x3x3
encoder.body.3.res_layer.5.fc1.weight 16x256x1x1
encoder.body.3.res_layer.5.fc2.weight 256x16x1x1
encoder.body.4.res_layer.1.weight 256x256x3x3
encoder.body.4.res_layer.2.weight 256
encoder.body.4.res_layer.3.weight 256x256x3x3
encoder.body.4.res_layer.5.fc1.weight 16x256x1x1
encoder.body.4.res_layer.5.fc2.weight 256x16x1x1
encoder.body.5.res_layer.1.weight 256x256x3x3
encoder.body.5.res_layer.2.weight 256
encoder.body.5.res_layer.3.weight 256x256x3x3
encoder.body.5.res_layer.5.fc1.weight 16x256x1x1
encoder.body.5.res_layer.5.fc2.weight 256x16x1x1
encoder.body.6.res_layer.1.weight 256x256x3x3
encoder.body.6.res_layer.2.weight 256
encoder.body.6.res_layer.3.weight 256x256x3x3
encoder.body.6.res_layer.5.fc1.weight 16x256x1x1
encoder.body.6.res_layer.5.fc2.weight 256x16x1x1
encoder.body.7.shortcut_layer.0.weight 512x256x1x1
encoder.body.7.res_layer.1.weight 512x256x3x3
encoder.body.7.res_layer.2.weight 512
encoder.body.7.res_layer.3.weight 512x512x3x3
encoder.body.7.res_layer.5.fc1.weight 32x512x1x1
encoder.body.7.res_layer.5.fc2.weight 512x32x1x1
encoder.body.8.res_layer.1.weight 512x512x3x3
encoder.body.8.res_layer.2.weight 512
encoder.body.8.res_layer.3.weight 512x512x3x3
encoder.body.8.res_layer.5.fc1.weight 32x512x1x1
encoder.body.8.res_layer.5.fc2.weight 512x32x1x1
encoder.body.9.res_layer.1.weight 512x512x3x3
encoder.body.9.res_layer.2.weight 512
encoder.body.9.res_layer.3.weight 512x512x3x3
encoder.body.9.res_layer.5.fc1.weight 32x512x1x1
encoder.body.9.res_layer.5.fc2.weight 512x32x1x1
encoder.body.10.res_layer.1.weight 512x512x3x3
encoder.body.10.res_layer.2.weight 512
encoder.body.10.res_layer.3.weight 512x512x3x3
encoder.body.10.res_layer.5.fc1.weight 32x512x1x1
encoder.body.10.res_layer.5.fc2.weight 512x32x1x1
encoder.body.11.res_layer.1.weight 512x512x3x3
encoder.body.11.res_layer.2.weight 512
encoder.body.11.res_layer.3.weight 512x512x3x3
encoder.body.11.res_layer.5.fc1.weight 32x512x1x1
encoder.body.11.res_layer.5.fc2.weight 512x32x1x1
encoder.body.12.res_layer.1.weight 512x512x3x3
encoder.body.12.res_layer.2.weight 512
encoder.body.12.res_layer.3.weight 512x512x3x3
encoder.body.12.res_layer.5.fc1.weight 32x512x1x1
encoder.body.12.res_layer.5.fc2.weight 512x32x1x1
encoder.body.13.res_layer.1.weight 512x512x3x3
encoder.body.13.res_layer.2.weight 512
encoder.body.13.res_layer.3.weight 512x512x3x3
encoder.body.13.res_layer.5.fc1.weight 32x512x1x1
encoder.body.13.res_layer.5.fc2.weight 512x32x1x1
encoder.body.14.res_layer.1.weight 512x512x3x3
encoder.body.14.res_layer.2.weight 512
encoder.body.14.res_layer.3.weight 512x512x3x3
encoder.body.14.res_layer.5.fc1.weight 32x512x1x1
encoder.body.14.res_layer.5.fc2.weight 512x32x1x1
encoder.body.15.res_layer.1.weight 512x512x3x3
encoder.body.15.res_layer.2.weight 512
encoder.body.15.res_layer.3.weight 512x512x3x3
encoder.body.15.res_layer.5.fc1.weight 32x512x1x1
encoder.body.15.res_layer.5.fc2.weight 512x32x1x1
encoder.body.16.res_layer.1.weight 512x512x3x3
encoder.body.16.res_layer.2.weight 512
encoder.body.16.res_layer.3.weight 512x512x3x3
encoder.body.16.res_layer.5.fc1.weight 32x512x1x1
encoder.body.16.res_layer.5.fc2.weight 512x32x1x1
encoder.body.17.res_layer.1.weight 512x512x3x3
encoder.body.17.res_layer.2.weight 512
encoder.body.17.res_layer.3.weight 512x512x3x3
encoder.body.17.res_layer.5.fc1.weight 32x512x1x1
encoder.body.17.res_layer.5.fc2.weight 512x32x1x1
encoder.body.18.res_layer.1.weight 512x512x3x3
encoder.body.18.res_layer.2.weight 512
encoder.body.18.res_layer.3.weight 512x512x3x3
encoder.body.18.res_layer.5.fc1.weight 32x512x1x1
encoder.body.18.res_layer.5.fc2.weight 512x32x1x1
encoder.body.19.res_layer.1.weight 512x512x3x3
encoder.body.19.res_layer.2.weight 512
encoder.body.19.res_layer.3.weight 512x512x3x3
encoder.body.19.res_layer.5.fc1.weight 32x512x1x1
encoder.body.19.res_layer.5.fc2.weight 512x32x1x1
encoder.body.20.res_layer.1.weight 512x512x3x3
encoder.body.20.res_layer.2.weight 512
encoder.body.20.res_layer.3.weight 512x512x3x3
encoder.body.20.res_layer.5.fc1.weight 32x512x1x1
encoder.body.20.res_layer.5.fc2.weight 512x32x1x1
encoder.body.21.res_layer.1.weight 512x512x3x3
encoder.body.21.res_layer.2.weight 512
encoder.body.21.res_layer.3.weight 512x512x3x3
encoder.body.21.res_layer.5.fc1.weight 32x512x1x1
encoder.body.21.res_layer.5.fc2.weight 512x32x1x1
encoder.body.22.res_layer.1.weight 512x512x3x3
encoder.body.22.res_layer.2.weight 512
encoder.body.22.res_layer.3.weight 512x512x3x3
encoder.body.22.res_layer.5.fc1.weight 32x512x1x1
encoder.body.22.res_layer.5.fc2.weight 512x32x1x1
encoder.body.23.res_layer.1.weight 512x512x3x3
encoder.body.23.res_layer.2.weight 512
encoder.body.23.res_layer.3.weight 512x512x3x3
encoder.body.23.res_layer.5.fc1.weight 32x512x1x1
encoder.body.23.res_layer.5.fc2.weight 512x32x1x1
G.style.1.weight 512x512
G.style.1.bias 512
G.style.2.weight 512x512
G.style.2.bias 512
G.style.3.weight 512x512
G.style.3.bias 512
G.style.4.weight 512x512
G.style.4.bias 512
G.style.5.weight 512x512
G.style.5.bias 512
G.style.6.weight 512x512
G.style.6.bias 512
G.style.7.weight 512x512
G.style.7.bias 512
G.style.8.weight 512x512
G.style.8.bias 512
G.input.input 1x512x4x4
G.conv1.conv.weight 1x512x512x3x3
G.conv1.conv.modulation.weight 512x512
G.conv1.conv.modulation.bias 512
G.conv1.noise.weight 1
G.conv1.activate.bias 512
G.to_rgb1.bias 1x3x1x1
G.to_rgb1.conv.weight 1x3x512x1x1
G.to_rgb1.conv.modulation.weight 512x512
G.to_rgb1.conv.modulation.bias 512
G.convs.0.conv.weight 1x512x512x3x3
G.convs.0.conv.blur.kernel 4x4
G.convs.0.conv.modulation.weight 512x512
G.convs.0.conv.modulation.bias 512
G.convs.0.noise.weight 1
G.convs.0.activate.bias 512
G.convs.1.conv.weight 1x512x512x3x3
G.convs.1.conv.modulation.weight 512x512
G.convs.1.conv.modulation.bias 512
G.convs.1.noise.weight 1
G.convs.1.activate.bias 512
G.convs.2.conv.weight 1x512x512x3x3
G.convs.2.conv.blur.kernel 4x4
G.convs.2.conv.modulation.weight 512x512
G.convs.2.conv.modulation.bias 512
G.convs.2.noise.weight 1
G.convs.2.activate.bias 512
G.convs.3.conv.weight 1x512x512x3x3
G.convs.3.conv.modulation.weight 512x512
G.convs.3.conv.modulation.bias 512
G.convs.3.noise.weight 1
G.convs.3.activate.bias 512
G.convs.4.conv.weight 1x512x512x3x3
G.convs.4.conv.blur.kernel 4x4
G.convs.4.conv.modulation.weight 512x512
G.convs.4.conv.modulation.bias 512
G.convs.4.noise.weight 1
G.convs.4.activate.bias 512
G.convs.5.conv.weight 1x512x512x3x3
G.convs.5.conv.modulation.weight 512x512
G.convs.5.conv.modulation.bias 512
G.convs.5.noise.weight 1
G.convs.5.activate.bias 512
G.convs.6.conv.weight 1x512x512x3x3
G.convs.6.conv.blur.kernel 4x4
G.convs.6.conv.modulation.weight 512x512
G.convs.6.conv.modulation.bias 512
G.convs.6.noise.weight 1
G.convs.6.activate.bias 512
G.convs.7.conv.weight 1x512x512x3x3
G.convs.7.conv.modulation.weight 512x512
G.convs.7.conv.modulation.bias 512
G.convs.7.noise.weight 1
G.convs.7.activate.bias 512
G.convs.8.conv.weight 1x256x512x3x3
G.convs.8.conv.blur.kernel 4x4
G.convs.8.conv.modulation.weight 512x512
G.convs.8.conv.modulation.bias 512
G.convs.8.noise.weight 1
G.convs.8.activate.bias 256
G.convs.9.conv.weight 1x256x256x3x3
G.convs.9.conv.modulation.weight 256x512
G.convs.9.conv.modulation.bias 256
G.convs.9.noise.weight 1
G.convs.9.activate.bias 256
G.convs.10.conv.weight 1x128x256x3x3
G.convs.10.conv.blur.kernel 4x4
G.convs.10.conv.modulation.weight 256x512
G.convs.10.conv.modulation.bias 256
G.convs.10.noise.weight 1
G.convs.10.activate.bias 128
G.convs.11.conv.weight 1x128x128x3x3
G.convs.11.conv.modulation.weight 128x512
G.convs.11.conv.modulation.bias 128
G.convs.11.noise.weight 1
G.convs.11.activate.bias 128
G.convs.12.conv.weight 1x64x128x3x3
G.convs.12.conv.blur.kernel 4x4
G.convs.12.conv.modulation.weight 128x512
G.convs.12.conv.modulation.bias 128
G.convs.12.noise.weight 1
G.convs.12.activate.bias 64
G.convs.13.conv.weight 1x64x64x3x3
G.convs.13.conv.modulation.weight 64x512
G.convs.13.conv.modulation.bias 64
G.convs.13.noise.weight 1
G.convs.13.activate.bias 64
G.convs.14.conv.weight 1x32x64x3x3
G.convs.14.conv.blur.kernel 4x4
G.convs.14.conv.modulation.weight 64x512
G.convs.14.conv.modulation.bias 64
G.convs.14.noise.weight 1
G.convs.14.activate.bias 32
G.convs.15.conv.weight 1x32x32x3x3
G.convs.15.conv.modulation.weight 32x512
G.convs.15.conv.modulation.bias 32
G.convs.15.noise.weight 1
G.convs.15.activate.bias 32
G.to_rgbs.0.bias 1x3x1x1
G.to_rgbs.0.upsample.kernel 4x4
G.to_rgbs.0.conv.weight 1x3x512x1x1
G.to_rgbs.0.conv.modulation.weight 512x512
G.to_rgbs.0.conv.modulation.bias 512
G.to_rgbs.1.bias 1x3x1x1
G.to_rgbs.1.upsample.kernel 4x4
G.to_rgbs.1.conv.weight 1x3x512x1x1
G.to_rgbs.1.conv.modulation.weight 512x512
G.to_rgbs.1.conv.modulation.bias 512
G.to_rgbs.2.bias 1x3x1x1
G.to_rgbs.2.upsample.kernel 4x4
G.to_rgbs.2.conv.weight 1x3x512x1x1
G.to_rgbs.2.conv.modulation.weight 512x512
G.to_rgbs.2.conv.modulation.bias 512
G.to_rgbs.3.bias 1x3x1x1
G.to_rgbs.3.upsample.kernel 4x4
G.to_rgbs.3.conv.weight 1x3x512x1x1
G.to_rgbs.3.conv.modulation.weight 512x512
G.to_rgbs.3.conv.modulation.bias 512
G.to_rgbs.4.bias 1x3x1x1
G.to_rgbs.4.upsample.kernel 4x4
G.to_rgbs.4.conv.weight 1x3x256x1x1
G.to_rgbs.4.conv.modulation.weight 256x512
G.to_rgbs.4.conv.modulation.bias 256
G.to_rgbs.5.bias 1x3x1x1
G.to_rgbs.5.upsample.kernel 4x4
G.to_rgbs.5.conv.weight 1x3x128x1x1
G.to_rgbs.5.conv.modulation.weight 128x512
G.to_rgbs.5.conv.modulation.bias 128
G.to_rgbs.6.bias 1x3x1x1
G.to_rgbs.6.upsample.kernel 4x4
G.to_rgbs.6.conv.weight 1x3x64x1x1
G.to_rgbs.6.conv.modulation.weight 64x512
G.to_rgbs.6.conv.modulation.bias 64
G.to_rgbs.7.bias 1x3x1x1
G.to_rgbs.7.upsample.kernel 4x4
G.to_rgbs.7.conv.weight 1x3x32x1x1
G.to_rgbs.7.conv.modulation.weight 32x512
G.to_rgbs.7.conv.modulation.bias 32
G.noises.noise_0 1x1x4x4
G.noises.noise_1 1x1x8x8
G.noises.noise_2 1x1x8x8
G.noises.noise_3 1x1x16x16
G.noises.noise_4 1x1x16x16
G.noises.noise_5 1x1x32x32
G.noises.noise_6 1x1x32x32
G.noises.noise_7 1x1x64x64
G.noises.noise_8 1x1x64x64
G.noises.noise_9 1x1x128x128
G.noises.noise_10 1x1x128x128
G.noises.noise_11 1x1x256x256
G.noises.noise_12 1x1x256x256
G.noises.noise_13 1x1x512x512
G.noises.noise_14 1x1x512x512
G.noises.noise_15 1x1x1024x1024
G.noises.noise_16 1x1x1024x1024
MLPs.0.mlp.0.weight 512x1280
MLPs.0.mlp.0.bias 512
MLPs.0.mlp.2.weight 6656x512
MLPs.0.mlp.2.bias 6656
MLPs.1.mlp.0.weight 512x1280
MLPs.1.mlp.0.bias 512
MLPs.1.mlp.2.weight 6656x512
MLPs.1.mlp.2.bias 6656
MLPs.2.mlp.0.weight 512x1280
MLPs.2.mlp.0.bias 512
MLPs.2.mlp.2.weight 6656x512
MLPs.2.mlp.2.bias 6656
MLPs.3.mlp.0.weight 512x1280
MLPs.3.mlp.0.bias 512
MLPs.3.mlp.2.weight 6656x512
MLPs.3.mlp.2.bias 6656
MLPs.4.mlp.0.weight 512x1280
MLPs.4.mlp.0.bias 512
MLPs.4.mlp.2.weight 6656x512
MLPs.4.mlp.2.bias 6656
MLPs.5.mlp.0.weight 512x1280
MLPs.5.mlp.0.bias 512
MLPs.5.mlp.2.weight 6656x512
MLPs.5.mlp.2.bias 6656
MLPs.6.mlp.0.weight 512x1280
MLPs.6.mlp.0.bias 512
MLPs.6.mlp.2.weight 6656x512
MLPs.6.mlp.2.bias 6656
MLPs.7.mlp.0.weight 512x1280
MLPs.7.mlp.0.bias 512
MLPs.7.mlp.2.weight 6656x512
MLPs.7.mlp.2.bias 6656
MLPs.8.mlp.0.weight 512x1280
MLPs.8.mlp.0.bias 512
MLPs.8.mlp.2.weight 6656x512
MLPs.8.mlp.2.bias 6656
MLPs.9.mlp.0.weight 512x1280
MLPs.9.mlp.0.bias 512
MLPs.9.mlp.2.weight 6656x512
MLPs.9.mlp.2.bias 6656
MLPs.10.mlp.0.weight 512x1280
MLPs.10.mlp.0.bias 512
MLPs.10.mlp.2.weight 6656x512
MLPs.10.mlp.2.bias 6656
MLPs.11.mlp.0.weight 512x1280
MLPs.11.mlp.0.bias 512
MLPs.11.mlp.2.weight 6656x512
MLPs.11.mlp.2.bias 6656
"""


def _published() -> list[tuple[str, tuple[int, ...]]]:
    return parse_key_list(PUBLISHED_KEYS)


def _narrow_net(seed: int = 0) -> E4SNet:
    torch.manual_seed(seed)
    net = E4SNet(NARROW)
    net.latent_avg.normal_()
    for name, p in net.named_parameters():  # E4S inits noise strengths at 0: make them count
        if name.endswith("noise.weight"):
            p.data.fill_(0.1)
    return net.eval()


def _face_parsing(size: int) -> np.ndarray:
    """A plausible 12-class layout (no hair): skin ellipse with eyes, brows, nose, lips."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    p = np.zeros((size, size), np.uint8)
    p[((xx - 0.5) / 0.32) ** 2 + ((yy - 0.55) / 0.42) ** 2 < 1] = CLASS_ID["skin"]
    p[(yy > 0.88) & (abs(xx - 0.5) < 0.2)] = CLASS_ID["neck"]
    for cx in (0.37, 0.63):
        p[((xx - cx) / 0.06) ** 2 + ((yy - 0.47) / 0.025) ** 2 < 1] = CLASS_ID["eyes"]
        p[(abs(xx - cx) < 0.07) & (abs(yy - 0.41) < 0.012)] = CLASS_ID["eyebrows"]
    p[(abs(xx - 0.5) < 0.04) & (yy > 0.48) & (yy < 0.63)] = CLASS_ID["nose"]
    p[((xx - 0.5) / 0.1) ** 2 + ((yy - 0.73) / 0.03) ** 2 < 1] = CLASS_ID["lip"]
    p[(abs(xx - 0.5) < 0.07) & (abs(yy - 0.73) < 0.006)] = CLASS_ID["mouth"]
    return p



@pytest.fixture()
def saved(tmp_path) -> tuple[E4SNet, str]:
    net = _narrow_net()
    path = tmp_path / "iteration_300000.pt"
    save_e4s(net, path, opts={"device": torch.device("cpu"), "remaining_layer_idx": 7})
    return net, str(path)


# --- layout ---------------------------------------------------------------------------

def test_full_width_model_has_the_published_keys_and_shapes():
    with torch.device("meta"):
        net = E4SNet()
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert got == _published()
    assert tuple(net.latent_avg.shape) == (18, 512)  # stored beside the state dict


def test_loader_accepts_the_published_keys():
    """The published key list alone (meta tensors, 'module.'-prefixed as saved by DDP)
    yields the published architecture and passes the strict key check."""
    from s3pot.reference.e4s.checkpoint import check_keys, infer_config, strip_prefix

    sd = strip_prefix({"module." + k: torch.empty(s, device="meta") for k, s in _published()})
    cfg = infer_config(sd, "iteration_300000.pt")
    assert cfg == E4SConfig(channels=(512, 512, 512, 512, 512, 256, 128, 64, 32))
    with torch.device("meta"):
        net = E4SNet(cfg)
    check_keys(net.state_dict(), sd, "iteration_300000.pt")


def test_published_generator_layers_follow_e4s_region_rule():
    """K=13: region-wise up to 256 px for the convs, up to 128 px for the RGB layers."""
    with torch.device("meta"):
        g = MaskGuidedGenerator()
    assert [c.mask_op for c in g.convs] == [True] * 12 + [False] * 4
    assert [t.mask_op for t in g.to_rgbs] == [True] * 5 + [False] * 3
    assert g.conv1.mask_op and g.to_rgb1.mask_op and g.num_region_layers == 13


# --- ops and building blocks against straightforward references -----------------------

def _upfirdn_reference(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    """Textbook definition on one channel: zero-stuff, zero-pad, true convolution, decimate."""
    h, w = x.shape
    z = np.zeros((h * up, w * up))
    z[::up, ::up] = x
    z = np.pad(z, ((pad[0], pad[1]), (pad[0], pad[1])))
    kf = k[::-1, ::-1]
    oh, ow = z.shape[0] - k.shape[0] + 1, z.shape[1] - k.shape[1] + 1
    out = np.array([[np.sum(z[i:i + k.shape[0], j:j + k.shape[1]] * kf) for j in range(ow)]
                    for i in range(oh)])
    return out[::down, ::down]


@pytest.mark.parametrize("up, down, pad", [(2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (1, 2))])
def test_upfirdn2d_matches_its_definition(up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(1, 2, 7, 7)
    k = torch.rand(4, 4)
    got = upfirdn2d(x, k, up=up, down=down, pad=pad)
    for c in range(2):
        ref = _upfirdn_reference(x[0, c].double().numpy(), k.double().numpy(), up, down, pad)
        np.testing.assert_allclose(got[0, c].numpy(), ref, atol=1e-5)


def test_upsample_keeps_a_constant_image_constant():
    y = Upsample()(torch.full((1, 3, 8, 8), 0.7))
    assert y.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(y[..., 2:-2, 2:-2].numpy(), 0.7, atol=1e-6)
    assert float(make_kernel([1, 3, 3, 1]).sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("upsample", [False, True])
def test_modulated_conv_equals_demodulated_plain_conv(upsample):
    """Batched grouped conv == per-sample conv(x * s, W) * d (the StyleGAN2 definition)."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, 3, style_dim=4, upsample=upsample)
    x, style = torch.randn(2, 6, 8, 8), torch.randn(2, 4)
    got = conv(x, style)
    for b in range(2):
        s = conv.modulation(style[b:b + 1])[0]
        w = conv.scale * conv.weight[0] * s.view(1, -1, 1, 1)
        d = torch.rsqrt(w.pow(2).sum([1, 2, 3]) + 1e-8)
        xin = x[b:b + 1]
        if upsample:
            ref = conv.blur(F.conv_transpose2d(xin, (conv.scale * conv.weight[0] * s.view(1, -1, 1, 1)).transpose(0, 1), stride=2))
        else:
            ref = F.conv2d(xin, w, padding=1)
        torch.testing.assert_close(got[b:b + 1], ref * d.view(1, -1, 1, 1), atol=1e-5, rtol=1e-4)
    assert got.shape[2:] == ((16, 16) if upsample else (8, 8))


def test_masked_sum_is_e4s_per_region_composition():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 3, 3, style_dim=5)
    x, styles = torch.randn(1, 4, 8, 8), torch.randn(1, 3, 5)
    labels = torch.randint(0, 2, (1, 8, 8))  # region 2 absent
    masks = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    ref = sum(conv(x, styles[:, r]) * masks[:, r:r + 1] for r in range(3))
    torch.testing.assert_close(_masked_sum(conv, x, styles, masks), ref)


def test_masked_average_is_the_region_mean_and_zero_when_absent():
    torch.manual_seed(0)
    feat = torch.randn(1, 4, 6, 6)
    labels = torch.zeros(1, 6, 6, dtype=torch.long)
    labels[0, :3] = 1
    onehot = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    got = RegionStyleEncoder.masked_average(feat, onehot)
    torch.testing.assert_close(got[0, 0], feat[0, :, 3:].mean((1, 2)))
    torch.testing.assert_close(got[0, 1], feat[0, :, :3].mean((1, 2)))
    assert torch.count_nonzero(got[0, 2]) == 0


# --- loading and running ---------------------------------------------------------------

def test_saved_narrow_model_loads_through_the_registry_and_regenerates_a_face(saved, aligned_face):
    net, path = saved
    aligned, landmarks = aligned_face
    parsing = _face_parsing(aligned.shape[0])
    gen = build_generator("e4s", checkpoint=path)

    ref = gen.generate(aligned, landmarks, parsing)

    assert ref.image.shape == aligned.shape and ref.image.dtype == np.uint8
    assert ref.confidence.shape == aligned.shape[:2] and ref.confidence.dtype == np.float32
    assert 0.0 <= ref.confidence.min() and ref.confidence.max() <= 1.0
    assert ref.image.std() > 1.0  # a random generator still paints something
    torch.testing.assert_close(gen.net.latent_avg, net.latent_avg)
    # The loaded weights reproduce the saved network exactly; with the stored noise maps
    # the reference is deterministic.
    with torch.no_grad():
        x = torch.from_numpy(aligned).permute(2, 0, 1)[None].float() / 127.5 - 1
        direct = net(x, gen.onehot(parsing))
    direct = F.interpolate((direct.clamp(-1, 1) + 1) * 127.5, aligned.shape[:2], mode="bilinear",
                           align_corners=False)
    direct_u8 = direct[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(ref.image, direct_u8)


def test_parser_then_generator_on_one_face(tmp_path, saved, aligned_face):
    """The two paper backends chained as the pipeline does: BiSeNet parsing feeds E4S."""
    from s3pot.parsing.base import build_parser
    from s3pot.parsing.bisenet import BiSeNet, BiSeNetConfig, save_bisenet

    aligned, landmarks = aligned_face
    torch.manual_seed(0)
    save_bisenet(BiSeNet(BiSeNetConfig(base_width=8, context_width=16, fuse_width=16,
                                       aux_width=8)), tmp_path / "79999_iter.pth")
    parsing = build_parser("bisenet", checkpoint=str(tmp_path / "79999_iter.pth")).parse(aligned, landmarks)
    ref = build_generator("e4s", checkpoint=saved[1]).generate(aligned, landmarks, parsing)
    assert ref.image.shape == aligned.shape and np.isfinite(ref.confidence).all()


def test_region_absent_from_parsing_has_no_influence(saved, aligned_face):
    """Mask-guided injection: a region's codes only act where the parsing has that region."""
    net, path = saved
    aligned, landmarks = aligned_face
    parsing = _face_parsing(aligned.shape[0])
    assert not (parsing == CLASS_ID["hair"]).any()
    gen = build_generator("e4s", checkpoint=path)
    before = gen.generate(aligned, landmarks, parsing).image
    with torch.no_grad():
        gen.net.MLPs[CLASS_ID["hair"]].mlp[2].bias.add_(5.0)
        gen.net.MLPs[CLASS_ID["skin"]].mlp[2].bias.add_(5.0)
        skin_changed = gen.generate(aligned, landmarks, parsing).image
        gen.net.MLPs[CLASS_ID["skin"]].mlp[2].bias.sub_(5.0)
        hair_only = gen.generate(aligned, landmarks, parsing).image
    np.testing.assert_array_equal(hair_only, before)
    assert np.abs(skin_changed.astype(int) - before).max() > 0


def _resave(path: str, tmp_path, edit) -> str:
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    out = tmp_path / "edited.pt"
    torch.save(ckpt, out)
    return str(out)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c["state_dict"].pop("module.G.to_rgb1.bias"), "1 missing keys (G.to_rgb1.bias)"),
        (lambda c: c["state_dict"].__setitem__("module.G.extra", torch.zeros(1)), "1 unexpected keys (G.extra)"),
        (lambda c: c["state_dict"].__setitem__("module.G.conv1.noise.weight", torch.zeros(2)), "shape mismatches (G.conv1.noise.weight"),
        (lambda c: c.__setitem__("latent_avg", torch.zeros(5, 32)), "latent_avg has shape (5, 32)"),
        (lambda c: c.pop("latent_avg"), "no 'latent_avg' tensor"),
        (lambda c: c["state_dict"].pop("module.G.input.input"), "missing key 'G.input.input'"),
    ],
)
def test_checkpoint_mismatch_is_a_one_line_error_naming_the_file(saved, tmp_path, edit, words):
    path = _resave(saved[1], tmp_path, edit)
    with pytest.raises(CheckpointError) as err:
        build_generator("e4s", checkpoint=path)
    msg = str(err.value)
    assert "\n" not in msg and path in msg and words in msg


def test_unprefixed_state_dict_and_w_space_latent_are_accepted(saved, tmp_path):
    net, path = saved

    def strip(c):
        c["state_dict"] = {k.removeprefix("module."): v for k, v in c["state_dict"].items()}

    plain = build_generator("e4s", checkpoint=_resave(path, tmp_path, strip))
    for k, v in net.state_dict().items():
        torch.testing.assert_close(plain.net.state_dict()[k], v, msg=k)
    w = _resave(path, tmp_path, lambda c: c.__setitem__("latent_avg", c["latent_avg"][:1]))
    g = build_generator("e4s", checkpoint=w)
    torch.testing.assert_close(g.net.latent_avg, net.latent_avg[:1].repeat(g.net.G.n_latent, 1))
