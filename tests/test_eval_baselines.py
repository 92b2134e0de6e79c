"""Baselines on faces built by hand (an injected ``prepare``), and the U-Net's plumbing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from s3pot.errors import CheckpointError
from s3pot.eval.baselines import build_method
from s3pot.eval.baselines.diff import DiffBaseline
from s3pot.eval.baselines.skin import SkinBaseline, skin_rule
from s3pot.eval.baselines.supervised_synth import SupervisedSynth, build_supervised_synth
from s3pot.eval.baselines.synth_training import TrainConfig, load_weights, save_weights, train
from s3pot.eval.baselines.unet import TinyUNet
from s3pot.faces.align import AlignTransform
from s3pot.parsing.base import CLASS_ID
from s3pot.types import Face, FaceResult

S = 64
SKIN_RGB = (224, 172, 140)


def fake_face(aligned: np.ndarray, reference: np.ndarray | None = None) -> FaceResult:
    """A face whose aligned frame is the photo itself; skin fills rows/cols 8..56."""
    parsing = np.zeros((S, S), np.uint8)
    parsing[8:56, 8:56] = CLASS_ID["skin"]
    t = AlignTransform(np.array([[1.0, 0, 0], [0, 1.0, 0]]), S)
    face = Face(np.array([8, 8, 56, 56.0]), np.zeros((478, 2)), 1.0)
    return FaceResult(face, t, aligned, np.zeros((478, 2)), parsing, reference=reference)


def photo_with_patch() -> tuple[np.ndarray, np.ndarray]:
    img = np.empty((S, S, 3), np.uint8)
    img[:] = SKIN_RGB
    patch = np.zeros((S, S), bool)
    patch[20:36, 16:40] = True
    img[patch] = (40, 60, 200)
    return img, patch


def test_skin_rule_on_known_colours() -> None:
    px = np.array([[SKIN_RGB, (40, 60, 200), (20, 120, 30)]], np.uint8)
    assert skin_rule(px).tolist() == [[True, False, False]]


def test_skin_baseline_flags_the_blue_patch() -> None:
    img, patch = photo_with_patch()
    pred = SkinBaseline(prepare=lambda im: [fake_face(im)]).predict(img)
    assert pred.occlusion.shape == (S, S)
    assert np.array_equal(pred.occlusion, patch)


def test_diff_baseline_flags_where_reference_differs() -> None:
    img, patch = photo_with_patch()
    ref = np.empty_like(img)
    ref[:] = SKIN_RGB
    pred = DiffBaseline(prepare=lambda im: [fake_face(im, ref)]).predict(img)
    # the whole patch, and nothing beyond the blur's reach (2 px) around it
    grown = ndimage.binary_dilation(patch, iterations=2)
    assert pred.occlusion[patch].all() and not (pred.occlusion & ~grown).any()
    same = DiffBaseline(prepare=lambda im: [fake_face(im, im.copy())]).predict(img)
    assert not same.occlusion.any()


def test_diff_baseline_needs_a_reference() -> None:
    img, _ = photo_with_patch()
    with pytest.raises(RuntimeError, match="needs references"):
        DiffBaseline(prepare=lambda im: [fake_face(im)]).predict(img)


def test_empty_and_unknown_method() -> None:
    pred = build_method("empty").predict(np.zeros((5, 7, 3), np.uint8))
    assert pred.occlusion.shape == (5, 7) and not pred.occlusion.any()
    with pytest.raises(ValueError, match="unknown method"):
        build_method("magic")


def test_unet_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TinyUNet(4).eval()
    x = torch.rand(1, 3, 32, 32)
    save_weights(tmp_path / "w.pt", net, {"config": {"base_channels": 4, "input_size": 32}})
    loaded, meta = load_weights(tmp_path / "w.pt")
    assert meta["config"]["input_size"] == 32
    with torch.no_grad():
        assert net(x).shape == (1, 32, 32)
        assert torch.equal(net(x), loaded(x))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_weights(tmp_path / "junk.pt")


def test_supervised_synth_maps_back_to_the_photo() -> None:
    img, _ = photo_with_patch()
    method = SupervisedSynth(TinyUNet(4), 32, prepare=lambda im: [fake_face(im)])
    pred = method.predict(img)
    assert pred.occlusion.shape == (S, S) and pred.occlusion.dtype == bool
    none = SupervisedSynth(TinyUNet(4), 32, prepare=lambda im: []).predict(img)
    assert not none.occlusion.any()


def test_supervised_synth_needs_weights_or_data() -> None:
    with pytest.raises(ValueError, match="--train-faces"):
        build_supervised_synth()


def test_tiny_training_run(tmp_path: Path, astronaut, detector) -> None:
    from PIL import Image

    (tmp_path / "faces").mkdir()
    (tmp_path / "occ").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "faces" / "a.png")
    cut = np.zeros((20, 60, 4), np.uint8)
    cut[4:16, 4:56] = (30, 30, 30, 255)
    Image.fromarray(cut, "RGBA").save(tmp_path / "occ" / "test_glasses.png")
    cfg = TrainConfig(holdout=("test_glasses",), synth_size=64, input_size=32, base_channels=4, steps=3,
                      batch=2, pool=6, max_faces=1)
    logs: list[str] = []
    net, meta = train(tmp_path / "faces", tmp_path / "occ", cfg, logs.append, detector=detector,
                      threads=1)
    assert meta["faces"] == 1 and np.isfinite(meta["final_loss"])
    assert any("held out: test_glasses" in line for line in logs)
    assert not any("test_glasses," in line or line.endswith("test_glasses")
                   for line in logs if line.startswith("training kinds"))
    with torch.no_grad():
        assert net(torch.rand(1, 3, 32, 32)).shape == (1, 32, 32)


def test_s3pot_method_passes_both_masks_through() -> None:
    from s3pot.eval.baselines.s3pot_method import S3potMethod
    from s3pot.types import PhotoResult

    occ = np.zeros((6, 6), bool)
    occ[1:3, 1:3] = True
    vis = np.zeros((6, 6), bool)
    vis[3:5, 1:5] = True

    class FakePredictor:
        def segment(self, image: np.ndarray) -> PhotoResult:
            return PhotoResult(image.shape[:2], [], occlusion=occ, visible=vis,
                               face_region=occ | vis)

    pred = S3potMethod(predictor=FakePredictor()).predict(np.zeros((6, 6, 3), np.uint8))
    assert np.array_equal(pred.occlusion, occ) and np.array_equal(pred.visible, vis)
