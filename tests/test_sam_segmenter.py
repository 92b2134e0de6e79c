"""S³POT on a tiny SAM: end-to-end segment, screening, gradients, per-image fitting."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from s3pot.backbone.sam import SamBackbone
from s3pot.errors import CheckpointError
from s3pot.faces.align import AlignTransform
from s3pot.parsing.base import face_region
from s3pot.prompts.selection import pad_prompts
from s3pot.screening import ScreeningNetwork, fresh_screening, load_screening, save_screening
from s3pot.segmenters.base import SegmentationOutput, build_segmenter
from s3pot.segmenters.sam import batch_loss, fit_screening, pair_prompts, screened_logits
from s3pot.types import Face, FaceResult

S = 96



@pytest.fixture(scope="module")
def backbone(tiny_ckpt):
    return SamBackbone.from_checkpoint(tiny_ckpt)


def synthetic_face(seed: int = 0) -> FaceResult:
    """A textured 'face' disc, with an occluder block that the reference does not have."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    disc = (yy - S / 2) ** 2 + (xx - S / 2) ** 2 < (S * 0.38) ** 2
    ref = np.full((S, S, 3), 40, np.uint8)
    ref[disc] = (200, 150, 120)
    ref = np.clip(ref + rng.normal(0, 6, ref.shape), 0, 255).astype(np.uint8)
    raw = ref.copy()
    raw[50:80, 25:70] = rng.integers(0, 255, (30, 45, 3), dtype=np.uint8)
    parsing = np.where(disc, 6, 0).astype(np.uint8)
    return FaceResult(
        face=Face(np.array([0, 0, S, S], float), np.zeros((478, 2)), 1.0),
        transform=AlignTransform(np.eye(2, 3), S),
        aligned=raw,
        landmarks_aligned=np.zeros((478, 2)),
        parsing=parsing,
        reference=ref,
    )


def test_screening_network_size_and_shape():
    net = ScreeningNetwork()
    assert sum(p.numel() for p in net.parameters()) == 263_680  # ~264k, as in the release
    assert len(ScreeningNetwork(depth=3).layers) == 3
    x = torch.randn(2, 7, 256)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    y = net(x, pad)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # Padding never influences real prompts: row 1 equals its unpadded run.
    assert torch.allclose(y[1, :4], net(x[1:2, :4])[0], atol=1e-5)


def test_segment_end_to_end_with_fresh_network_warns(tiny_ckpt):
    face = synthetic_face()
    with pytest.warns(UserWarning, match="freshly initialised screening network"):
        seg = build_segmenter("sam", sam_checkpoint=str(tiny_ckpt))
    out = seg.segment(face)
    assert isinstance(out, SegmentationOutput)
    assert out.visible_prob.shape == (S, S) and out.visible_prob.dtype == np.float32
    assert ((out.visible_prob >= 0) & (out.visible_prob <= 1)).all()
    m = face_region(face.parsing)
    assert np.array_equal(out.face_region, m)
    assert np.array_equal(out.occlusion, m & ~out.visible)
    assert not (out.visible & ~m).any()
    pts, labels = out.extras["prompts_xy"], out.extras["prompt_labels"]
    assert len(pts) == len(labels) > 0
    assert m[pts[:, 1].astype(int), pts[:, 0].astype(int)].all()  # every prompt inside M
    assert ((pts - 6) % 12 == 0).all()  # patch centres of the 8 x 8 grid over 96 px
    p0 = out.extras["p0"]
    contrast = out.extras["contrast"].reshape(-1)
    assert contrast[p0] == contrast[np.isfinite(contrast)].max()


def test_pair_prompts_cover_face_tokens_once(backbone):
    face = synthetic_face(1)
    pair = pair_prompts(backbone, face.aligned, face.reference, face.parsing)
    assert pair.e_i.shape == (256, 8, 8) and pair.token_mask.shape == (8, 8)
    assert len(pair.labels) == int(pair.token_mask.sum())
    assert len({tuple(p) for p in pair.coords.tolist()}) == len(pair.coords)


def test_pair_prompts_use_one_batched_encoder_call(backbone):
    calls = []
    handle = backbone.sam.image_encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        face = synthetic_face(2)
        pair_prompts(backbone, face.aligned, face.reference, face.parsing)
    finally:
        handle.remove()
    assert calls == [2]


def test_gradients_reach_only_the_screening_network(backbone):
    face = synthetic_face()
    pair = pair_prompts(backbone, face.aligned, face.reference, face.parsing)
    net = fresh_screening()
    coords, labels = pad_prompts([(pair.coords, pair.labels)])
    batch_loss(backbone, net, pair.e_i[None], coords, labels).total.backward()
    assert all(p.grad is None and not p.requires_grad for p in backbone.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_batched_decoding_equals_single(backbone):
    pairs = [pair_prompts(backbone, f.aligned, f.reference, f.parsing) for f in (synthetic_face(0), synthetic_face(3))]
    pairs[1].coords, pairs[1].labels = pairs[1].coords[:5], pairs[1].labels[:5]  # uneven counts
    net = fresh_screening().eval()
    coords, labels = pad_prompts([(p.coords, p.labels) for p in pairs])
    with torch.no_grad():
        both = screened_logits(backbone, net, torch.stack([p.e_i for p in pairs]), coords, labels)
        for k, p in enumerate(pairs):
            c, lab = pad_prompts([(p.coords, p.labels)])
            one = screened_logits(backbone, net, p.e_i[None], c, lab)
            assert torch.allclose(both[k], one[0], atol=1e-4)


def test_per_image_fitting_decreases_loss_and_stops_early(backbone):
    face = synthetic_face()
    pair = pair_prompts(backbone, face.aligned, face.reference, face.parsing)
    coords, labels = pad_prompts([(pair.coords, pair.labels)])
    with torch.no_grad():
        before = float(batch_loss(backbone, fresh_screening(), pair.e_i[None], coords, labels).total)
    net, history = fit_screening(backbone, pair, steps=25)
    with torch.no_grad():
        after = float(batch_loss(backbone, net, pair.e_i[None], coords, labels).total)
    assert after < before - 1e-3
    assert history[-1] < history[0]
    # An unreachable improvement threshold stops after exactly `patience` bad steps.
    _, short = fit_screening(backbone, pair, steps=50, min_delta=1e9, patience=5)
    assert len(short) == 6


def test_segmenter_fit_steps_and_trained_checkpoint(tiny_ckpt, tmp_path):
    face = synthetic_face()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fitting or a checkpoint: no untrained warning
        fitted = build_segmenter("sam", sam_checkpoint=str(tiny_ckpt), fit_steps=8).segment(face)
        assert 0 < len(fitted.extras["fit_history"]) <= 8
        net = fresh_screening(seed=5)
        save_screening(net, tmp_path / "screening.pt")
        seg = build_segmenter("sam", sam_checkpoint=str(tiny_ckpt), screening=str(tmp_path / "screening.pt"))
    loaded = load_screening(tmp_path / "screening.pt")
    for a, b in zip(loaded.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert seg.segment(face).extras["screening"] == "trained"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable"):
        build_segmenter("sam", sam_checkpoint=str(tiny_ckpt), screening=str(tmp_path / "junk.pt"))
    torch.save({"kind": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an s3pot screening"):
        load_screening(tmp_path / "other.pt")


def test_face_without_face_region_gives_empty_masks(tiny_ckpt):
    face = synthetic_face()
    face.parsing = np.zeros((S, S), np.uint8)
    with pytest.warns(UserWarning):
        out = build_segmenter("sam", sam_checkpoint=str(tiny_ckpt)).segment(face)
    assert not out.visible.any() and not out.occlusion.any()
