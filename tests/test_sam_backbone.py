"""Loading official-format SAM checkpoints, SAM's preprocessing, the decoder hook.

A tiny randomly initialised model of SAM's architecture (8 x 8 token grid, SAM's 256-d
prompt encoder and decoder) is saved as a plain state dict, the format Meta publishes,
and loaded back through the real loading path.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor, sam_model_registry

from s3pot.backbone.sam import (
    OFFICIAL,
    SamBackbone,
    capture_attended_image_tokens,
    fused_decoder_attention,
    infer_architecture,
    load_sam,
    model_type_of,
)
from s3pot.errors import CheckpointError


@pytest.mark.parametrize("kind", ["vit_b", "vit_l", "vit_h"])
def test_official_architectures_are_recognised_from_their_weights(kind):
    with torch.device("meta"):  # shapes only, no memory
        sd = sam_model_registry[kind]().state_dict()
    arch = infer_architecture(sd)
    assert arch == OFFICIAL[kind]
    assert model_type_of(arch) == kind


def test_tiny_checkpoint_round_trip(tiny_ckpt):
    sam, kind = load_sam(tiny_ckpt)
    assert kind == "custom"
    ref = torch.load(tiny_ckpt, weights_only=True)
    for k, v in sam.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_model_type_mismatch_is_one_line_error(tiny_ckpt):
    with pytest.raises(CheckpointError, match="not vit_b") as e:
        load_sam(tiny_ckpt, "vit_b")
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="unknown SAM model type"):
        load_sam(tiny_ckpt, "vit_x")


def test_bad_files_are_one_line_errors(tmp_path, tiny_ckpt):
    data = tiny_ckpt.read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 3])
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    other = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(3)}, other)
    pickled = tmp_path / "pickled.pth"
    pickled.write_bytes(pickle.dumps(OFFICIAL))  # arbitrary Python objects are refused
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "missing.pth": "not found",
        truncated: "not a readable PyTorch checkpoint \\(truncated or corrupt archive: an interrupted download",
        text: "not a readable PyTorch checkpoint \\(neither a zip archive nor a pickle\\)",
        empty: "not a readable PyTorch checkpoint \\(empty file\\)",
        other: "not a Segment Anything checkpoint",
        pickled: "not a readable PyTorch checkpoint \\(holds Python objects besides tensors",
        tmp_path: "folder",
    }
    for path, msg in cases.items():
        with pytest.raises(CheckpointError, match=msg) as e:
            load_sam(path)
        assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_wrong_shapes_are_reported(tmp_path, tiny_ckpt):
    sd = torch.load(tiny_ckpt, weights_only=True)
    sd["mask_decoder.iou_token.weight"] = torch.zeros(1, 256)
    del sd["mask_decoder.mask_tokens.weight"]
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="architecture"):
        load_sam(bad)


def test_encoder_matches_sam_predictor_preprocessing(tiny_ckpt):
    bb = SamBackbone.from_checkpoint(tiny_ckpt)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (90, 60, 3), dtype=np.uint8)  # non-square: resize + pad
    predictor = SamPredictor(bb.sam)
    predictor.set_image(img)
    emb = bb.encode([img, img[::-1].copy()])
    assert emb.shape == (2, 256, 8, 8)
    assert torch.allclose(emb[0:1], predictor.get_image_embedding(), atol=1e-5)
    assert not torch.allclose(emb[0], emb[1])


def test_hook_captures_attended_image_tokens(tiny_ckpt):
    bb = SamBackbone.from_checkpoint(tiny_ckpt)
    emb = bb.encode([np.full((64, 64, 3), 100, np.uint8)])
    sparse, dense = bb.embed_points(torch.tensor([[[40.0, 50.0]]]), torch.tensor([[1]]))
    logits, tokens = bb.decode(emb, sparse, dense)
    assert logits.shape == (1, 1, 32, 32) and tokens.shape == (1, 256, 8, 8)
    # Same tensor computed by hand through SAM's own transformer.
    dec = bb.sam.mask_decoder
    out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0)[None]
    with torch.no_grad():
        _, keys = dec.transformer(emb + dense, bb.sam.prompt_encoder.get_dense_pe(), torch.cat([out_tokens, sparse], 1))
    assert torch.allclose(tokens, keys.transpose(1, 2).reshape(1, 256, 8, 8), atol=1e-4)
    assert not dec.transformer._forward_hooks  # the hook is removed after use
    with capture_attended_image_tokens(dec) as store:
        pass
    assert store == {}


def test_backbone_is_frozen_and_stays_in_eval(tiny_ckpt):
    bb = SamBackbone.from_checkpoint(tiny_ckpt)
    bb.train()
    assert not bb.sam.training
    assert not any(p.requires_grad for p in bb.parameters())
    assert bb.grid_hw == (8, 8) and bb.frame_hw == (128, 128) and bb.prompt_dim == 256


def test_fused_decoder_attention_equals_stock_sam(tiny_ckpt):
    bb = SamBackbone.from_checkpoint(tiny_ckpt)
    emb = bb.encode([np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)])
    coords = torch.rand(1, 40, 2) * 128
    labels = torch.randint(0, 2, (1, 40))
    sparse, dense = bb.embed_points(coords, labels)
    dec = bb.sam.mask_decoder
    with torch.no_grad():
        stock, _ = dec(emb, bb.sam.prompt_encoder.get_dense_pe(), sparse, dense, multimask_output=False)
        with fused_decoder_attention(dec):
            fused, _ = dec(emb, bb.sam.prompt_encoder.get_dense_pe(), sparse, dense, multimask_output=False)
        ours, _ = bb.decode(emb, sparse, dense)
    assert torch.allclose(fused, stock, atol=1e-4) and torch.allclose(ours, stock, atol=1e-4)
    assert not torch.equal(stock, torch.zeros_like(stock))
    assert all("forward" not in vars(m) for m in dec.modules())  # restored afterwards
