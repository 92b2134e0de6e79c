"""BiSeNet face parser: published key layout, strict loading, 19->12 mapping, real-face run.

No weights can be downloaded here: a narrow random BiSeNet is saved in the release's
layout (a bare state dict) and loaded back through ``build_parser("bisenet", ...)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import parse_key_list

from s3pot.errors import CheckpointError
from s3pot.parsing.base import CLASS_ID, build_parser
from s3pot.parsing.bisenet import CELEBAMASK_TO_12, BiSeNet, BiSeNetConfig, save_bisenet
from s3pot.parsing.bisenet.parser import IMAGENET_MEAN, preprocess

NARROW = BiSeNetConfig(base_width=8, context_width=16, fuse_width=16, aux_width=8)

# State-dict keys and shapes of 79999_iter.pth (zllrunning/face-parsing.PyTorch, BiSeNet with
# the spatial path replaced by the ResNet-18 1/8 feature; BatchNorm counters included):
# 191 tensors. Written out from the published architecture.
PUBLISHED_KEYS = """
cp.resnet.conv1.weight 64x3x7x7
cp.resnet.bn1.weight 64
cp.resnet.bn1.bias 64
cp.resnet.bn1.running_mean 64
cp.resnet.bn1.running_var 64
cp.resnet.bn1.num_batches_tracked -
cp.resnet.layer1.0.conv1.weight 64x64x3x3
cp.resnet.layer1.0.bn1.weight 64
cp.resnet.layer1.0.bn1.bias 64
cp.resnet.layer1.0.bn1.running_mean 64
cp.resnet.layer1.0.bn1.running_var 64
cp.resnet.layer1.0.bn1.num_batches_tracked -
cp.resnet.layer1.0.conv2.weight 64x64x3x3
cp.resnet.layer1.0.bn2.weight 64
cp.resnet.layer1.0.bn2.bias 64
cp.resnet.layer1.0.bn2.running_mean 64
cp.resnet.layer1.0.bn2.running_var 64
cp.resnet.layer1.0.bn2.num_batches_tracked -
cp.resnet.layer1.1.conv1.weight 64x64x3x3
cp.resnet.layer1.1.bn1.weight 64
cp.resnet.layer1.1.bn1.bias 64
cp.resnet.layer1.1.bn1.running_mean 64
cp.resnet.layer1.1.bn1.running_var 64
cp.resnet.layer1.1.bn1.num_batches_tracked -
cp.resnet.layer1.1.conv2.weight 64x64x3x3
cp.resnet.layer1.1.bn2.weight 64
cp.resnet.layer1.1.bn2.bias 64
cp.resnet.layer1.1.bn2.running_mean 64
cp.resnet.layer1.1.bn2.running_var 64
cp.resnet.layer1.1.bn2.num_batches_tracked -
cp.resnet.layer2.0.conv1.weight 128x64x3x3
cp.resnet.layer2.0.bn1.weight 128
cp.resnet.layer2.0.bn1.bias 128
cp.resnet.layer2.0.bn1.running_mean 128
cp.resnet.layer2.0.bn1.running_var 128
cp.resnet.layer2.0.bn1.num_batches_tracked -
cp.resnet.layer2.0.conv2.weight 128x128x3x3
cp.resnet.layer2.0.bn2.weight 128
cp.resnet.layer2.0.bn2.bias 128
cp.resnet.layer2.0.bn2.running_mean 128
cp.resnet.layer2.0.bn2.running_var 128
cp.resnet.layer2.0.bn2.num_batches_tracked -
cp.resnet.layer2.0.downsample.0.weight 128x64x1x1
cp.resnet.layer2.0.downsample.1.weight 128
cp.resnet.layer2.0.downsample.1.bias 128
cp.resnet.layer2.0.downsample.1.running_mean 128
cp.resnet.layer2.0.downsample.1.running_var 128
cp.resnet.layer2.0.downsample.1.num_batches_tracked -
cp.resnet.layer2.1.conv1.weight 128x128x3x3
cp.resnet.layer2.1.bn1.weight 128
cp.resnet.layer2.1.bn1.bias 128
cp.resnet.layer2.1.bn1.running_mean 128
cp.resnet.layer2.1.bn1.running_var 128
cp.resnet.layer2.1.bn1.num_batches_tracked -
cp.resnet.layer2.1.conv2.weight 128x128x3x3
cp.resnet.layer2.1.bn2.weight 128
cp.resnet.layer2.1.bn2.bias 128
cp.resnet.layer2.1.bn2.running_mean 128
cp.resnet.layer2.1.bn2.running_var 128
cp.resnet.layer2.1.bn2.num_batches_tracked -
cp.resnet.layer3.0.conv1.weight 256x128x3x3
cp.resnet.layer3.0.bn1.weight 256
cp.resnet.layer3.0.bn1.bias 256
cp.resnet.layer3.0.bn1.running_mean 256
cp.resnet.layer3.0.bn1.running_var 256
cp.resnet.layer3.0.bn1.num_batches_tracked -
cp.resnet.layer3.0.conv2.weight 256x256x3x3
cp.resnet.layer3.0.bn2.weight 256
cp.resnet.layer3.0.bn2.bias 256
cp.resnet.layer3.0.bn2.running_mean 256
cp.resnet.layer3.0.bn2.running_var 256
cp.resnet.layer3.0.bn2.num_batches_tracked -
cp.resnet.layer3.0.downsample.0.weight 256x128x1x1
cp.resnet.layer3.0.downsample.1.weight 256
cp.resnet.layer3.0.downsample.1.bias 256
cp.resnet.layer3.0.downsample.1.running_mean 256
cp.resnet.layer3.0.downsample.1.running_var 256
cp.resnet.layer3.0.downsample.1.num_batches_tracked -
cp.resnet.layer3.1.conv1.weight 256x256x3x3
cp.resnet.layer3.1.bn1.weight 256
cp.resnet.layer3.1.bn1.bias 256
cp.resnet.layer3.1.bn1.running_mean 256
cp.resnet.layer3.1.bn1.running_var 256
cp.resnet.layer3.1.bn1.num_batches_tracked -
cp.resnet.layer3.1.conv2.weight 256x256x3x3
cp.resnet.layer3.1.bn2.weight 256
cp.resnet.layer3.1.bn2.bias 256
cp.resnet.layer3.1.bn2.running_mean 256
cp.resnet.layer3.1.bn2.running_var 256
cp.resnet.layer3.1.bn2.num_batches_tracked -
cp.resnet.layer4.0.conv1.weight 512x256x3x3
cp.resnet.layer4.0.bn1.weight 512
cp.resnet.layer4.0.bn1.bias 512
cp.resnet.layer4.0.bn1.running_mean 512
cp.resnet.layer4.0.bn1.running_var 512
cp.resnet.layer4.0.bn1.num_batches_tracked -
cp.resnet.layer4.0.conv2.weight 512x512x3x3
cp.resnet.layer4.0.bn2.weight 512
cp.resnet.layer4.0.bn2.bias 512
cp.resnet.layer4.0.bn2.running_mean 512
cp.resnet.layer4.0.bn2.running_var 512
cp.resnet.layer4.0.bn2.num_batches_tracked -
cp.resnet.layer4.0.downsample.0.weight 512x256x1x1
cp.resnet.layer4.0.downsample.1.weight 512
cp.resnet.layer4.0.downsample.1.bias 512
cp.resnet.layer4.0.downsample.1.running_mean 512
cp.resnet.layer4.0.downsample.1.running_var 512
cp.resnet.layer4.0.downsample.1.num_batches_tracked -
cp.resnet.layer4.1.conv1.weight 512x512x3x3
cp.resnet.layer4.1.bn1.weight 512
cp.resnet.layer4.1.bn1.bias 512
cp.resnet.layer4.1.bn1.running_mean 512
cp.resnet.layer4.1.bn1.running_var 512
cp.resnet.layer4.1.bn1.num_batches_tracked -
cp.resnet.layer4.1.conv2.weight 512x512x3x3
cp.resnet.layer4.1.bn2.weight 512
cp.resnet.layer4.1.bn2.bias 512
cp.resnet.layer4.1.bn2.running_mean 512
cp.resnet.layer4.1.bn2.running_var 512
cp.resnet.layer4.1.bn2.num_batches_tracked -
cp.arm16.conv.conv.weight 128x256x3x3
cp.arm16.conv.bn.weight 128
cp.arm16.conv.bn.bias 128
cp.arm16.conv.bn.running_mean 128
cp.arm16.conv.bn.running_var 128
cp.arm16.conv.bn.num_batches_tracked -
cp.arm16.conv_atten.weight 128x128x1x1
cp.arm16.bn_atten.weight 128
cp.arm16.bn_atten.bias 128
cp.arm16.bn_atten.running_mean 128
cp.arm16.bn_atten.running_var 128
cp.arm16.bn_atten.num_batches_tracked -
cp.arm32.conv.conv.weight 128x512x3x3
cp.arm32.conv.bn.weight 128
cp.arm32.conv.bn.bias 128
cp.arm32.conv.bn.running_mean 128
cp.arm32.conv.bn.running_var 128
cp.arm32.conv.bn.num_batches_tracked -
cp.arm32.conv_atten.weight 128x128x1x1
cp.arm32.bn_atten.weight 128
cp.arm32.bn_atten.bias 128
cp.arm32.bn_atten.running_mean 128
cp.arm32.bn_atten.running_var 128
cp.arm32.bn_atten.num_batches_tracked -
cp.conv_head32.conv.weight 128x128x3x3
cp.conv_head32.bn.weight 128
cp.conv_head32.bn.bias 128
cp.conv_head32.bn.running_mean 128
cp.conv_head32.bn.running_var 128
cp.conv_head32.bn.num_batches_tracked -
cp.conv_head16.conv.weight 128x128x3x3
cp.conv_head16.bn.weight 128
cp.conv_head16.bn.bias 128
cp.conv_head16.bn.running_mean 128
cp.conv_head16.bn.running_var 128
cp.conv_head16.bn.num_batches_tracked -
cp.conv_avg.conv.weight 128x512x1x1
cp.conv_avg.bn.weight 128
cp.conv_avg.bn.bias 128
cp.conv_avg.bn.running_mean 128
cp.conv_avg.bn.running_var 128
cp.conv_avg.bn.num_batches_tracked -
ffm.convblk.conv.weight 256x256x1x1
ffm.convblk.bn.weight 256
ffm.convblk.bn.bias 256
ffm.convblk.bn.running_mean 256
ffm.convblk.bn.running_var 256
ffm.convblk.bn.num_batches_tracked -
ffm.conv1.weight 64x256x1x1
ffm.conv2.weight 256x64x1x1
conv_out.conv.conv.weight 256x256x3x3
conv_out.conv.bn.weight 256
conv_out.conv.bn.bias 256
conv_out.conv.bn.running_mean 256
conv_out.conv.bn.running_var 256
conv_out.conv.bn.num_batches_tracked -
conv_out.conv_out.weight 19x256x1x1
conv_out16.conv.conv.weight 64x128x3x3
conv_out16.conv.bn.weight 64
conv_out16.conv.bn.bias 64
conv_out16.conv.bn.running_mean 64
conv_out16.conv.bn.running_var 64
conv_out16.conv.bn.num_batches_tracked -
conv_out16.conv_out.weight 19x64x1x1
conv_out32.conv.conv.weight 64x128x3x3
conv_out32.conv.bn.weight 64
conv_out32.conv.bn.bias 64
conv_out32.conv.bn.running_mean 64
conv_out32.conv.bn.running_var 64
conv_out32.conv.bn.num_batches_tracked -
conv_out32.conv_out.weight 19x64x1x1
"""


def _published() -> list[tuple[str, tuple[int, ...]]]:
    return parse_key_list(PUBLISHED_KEYS)


def _narrow_net(seed: int = 0) -> BiSeNet:
    """Random narrow BiSeNet with non-trivial BatchNorm statistics (so loading matters)."""
    torch.manual_seed(seed)
    net = BiSeNet(NARROW)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(79999)
    return net.eval()



def test_full_width_model_has_the_published_keys_and_shapes():
    with torch.device("meta"):
        net = BiSeNet()
    got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert got == _published()


def test_loader_accepts_a_file_with_exactly_the_published_keys(tmp_path):
    """A state dict written from the key list alone (not from our model) loads strictly."""
    sd = {}
    for name, shape in _published():
        sd[name] = torch.zeros(shape, dtype=torch.long if name.endswith("num_batches_tracked") else torch.float32)
    path = tmp_path / "79999_iter.pth"
    torch.save(sd, path)
    parser = build_parser("bisenet", checkpoint=str(path))
    assert parser.net.cfg == BiSeNetConfig()


def test_celebamask_to_12_table():
    expected = {
        0: "background", 1: "skin", 2: "eyebrows", 3: "eyebrows", 4: "eyes", 5: "eyes",
        6: "eyeglasses", 7: "ears", 8: "ears", 9: "earrings", 10: "nose", 11: "mouth",
        12: "lip", 13: "lip", 14: "neck", 15: "background", 16: "background", 17: "hair",
        18: "background",
    }
    assert CELEBAMASK_TO_12.tolist() == [CLASS_ID[expected[i]] for i in range(19)]


def test_preprocess_is_imagenet_normalised_at_512():
    mean_img = np.tile(np.round(np.array(IMAGENET_MEAN) * 255), (100, 100, 1)).astype(np.uint8)
    x = preprocess(mean_img)
    assert x.shape == (1, 3, 512, 512)
    assert float(x.abs().max()) < 0.01


def test_saved_narrow_model_loads_through_the_registry_and_parses_a_face(tmp_path, aligned_face):
    aligned, landmarks = aligned_face
    net = _narrow_net()
    path = tmp_path / "79999_iter.pth"
    save_bisenet(net, path)

    parser = build_parser("bisenet", checkpoint=str(path))
    parsing = parser.parse(aligned, landmarks)

    assert parsing.shape == aligned.shape[:2] and parsing.dtype == np.uint8
    assert set(np.unique(parsing)) <= set(range(12))
    # Same weights as the saved network: identical labels to running it directly.
    with torch.no_grad():
        logits = net(preprocess(aligned), out_size=aligned.shape[:2])
    direct = CELEBAMASK_TO_12[logits[0].argmax(0).numpy()]
    np.testing.assert_array_equal(parsing, direct)


def test_dataparallel_prefix_is_accepted(tmp_path, aligned_face):
    aligned, landmarks = aligned_face
    net = _narrow_net(1)
    path = tmp_path / "dp.pth"
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, path)
    plain = tmp_path / "plain.pth"
    save_bisenet(net, plain)
    a = build_parser("bisenet", checkpoint=str(path)).parse(aligned, landmarks)
    b = build_parser("bisenet", checkpoint=str(plain)).parse(aligned, landmarks)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda sd: sd.pop("ffm.conv1.weight"), "1 missing keys (ffm.conv1.weight)"),
        (lambda sd: sd.__setitem__("sp.conv1.conv.weight", torch.zeros(1)), "1 unexpected keys (sp.conv1.conv.weight)"),
        (lambda sd: sd.__setitem__("ffm.conv2.weight", torch.zeros(3, 3, 1, 1)), "shape mismatches (ffm.conv2.weight"),
        (lambda sd: sd.pop("cp.arm16.conv.conv.weight"), "missing key 'cp.arm16.conv.conv.weight'"),
    ],
)
def test_key_mismatch_is_a_one_line_error_naming_the_file(tmp_path, edit, words):
    sd = _narrow_net().state_dict()
    edit(sd)
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as err:
        build_parser("bisenet", checkpoint=str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and words in msg


def test_wrong_class_count_and_unreadable_files_are_checkpoint_errors(tmp_path):
    eleven = tmp_path / "eleven.pth"
    save_bisenet(BiSeNet(BiSeNetConfig(n_classes=11, base_width=8, context_width=16,
                                       fuse_width=16, aux_width=8)), eleven)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    for path, words in ((eleven, "11 output classes"), (junk, "not a readable"),
                        (tmp_path / "absent.pth", "file not found")):
        with pytest.raises(CheckpointError, match=words) as err:
            build_parser("bisenet", checkpoint=str(path))
        assert str(path) in str(err.value)
