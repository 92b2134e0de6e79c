"""Training the screening network: cache, exact resume, DDP (gloo, 2 processes), no GT reads."""

from __future__ import annotations

import builtins
import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from s3pot.backbone.sam import SamBackbone
from s3pot.faces.align import AlignTransform
from s3pot.screening import load_screening
from s3pot.training.data import list_training_images
from s3pot.training.train import TrainConfig, build_cache, spawn_worker, train
from s3pot.types import Face, FaceResult

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


class SyntheticPreparer:
    """Stands in for the pipeline's face stage: the photo is the aligned face; the
    reference replaces a block by flat skin; the parsing is a central disc of skin."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> list[FaceResult]:
        self.calls += 1
        s = image.shape[0]
        yy, xx = np.mgrid[:s, :s]
        parsing = np.where((yy - s / 2) ** 2 + (xx - s / 2) ** 2 < (0.4 * s) ** 2, 6, 0).astype(np.uint8)
        ref = image.copy()
        ref[s // 2 :, s // 4 : 3 * s // 4] = (190, 140, 120)
        face = Face(np.array([0, 0, s, s], float), np.zeros((478, 2)), 1.0)
        return [FaceResult(face, AlignTransform(np.eye(2, 3), s), image, np.zeros((478, 2)), parsing, ref)]



def make_data(root: Path, n: int = 5) -> Path:
    """Photos plus every kind of ground truth a folder may carry next to them."""
    rng = np.random.default_rng(0)
    (root / "masks").mkdir(parents=True)
    (root / "sub" / "gt").mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / ("sub" if i % 2 else ".") / f"p{i}.png")
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / "masks" / f"p{i}.png")
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / f"p{i}_mask.png")
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / "sub" / "gt" / f"p{i}.png")
    (root / "p0.json").write_text('{"shapes": []}')  # labelme annotation
    return root


def config(tmp: Path, ckpt: Path, run: str = "run", **kw) -> TrainConfig:
    base = dict(
        data_dir=str(tmp / "data"), run_dir=str(tmp / run), sam_checkpoint=str(ckpt), epochs=3,
        batch_size=2, cache_dir=str(tmp / "cache"), preparer_id="synthetic-test",
    )
    base.update(kw)
    return TrainConfig(**base)


def test_listing_skips_ground_truth(tmp_path):
    data = make_data(tmp_path / "data")
    names = [p.relative_to(data).as_posix() for p in list_training_images(data)]
    assert names == ["p0.png", "p2.png", "p4.png", "sub/p1.png", "sub/p3.png"]


def test_training_never_opens_ground_truth(tmp_path, tiny_ckpt, monkeypatch):
    make_data(tmp_path / "data")
    opened: list[str] = []

    def recorder(real):
        def wrapped(file, *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)):
                opened.append(os.fsdecode(file))
            return real(file, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(builtins, "open", recorder(builtins.open))
    monkeypatch.setattr(io, "open", recorder(io.open))
    monkeypatch.setattr(os, "open", recorder(os.open))
    monkeypatch.setattr(Image, "open", recorder(Image.open))
    train(config(tmp_path, tiny_ckpt, epochs=1), SyntheticPreparer())
    data = str(tmp_path / "data")
    read = {Path(p).resolve() for p in opened if p.startswith(data)}
    photos = {p.resolve() for p in list_training_images(data)}
    assert photos <= read  # the recorder sees the photos being read...
    assert read == photos  # ...and nothing else under DATA_DIR: no mask, no annotation


def test_cache_is_reused_and_keyed_by_content_and_config(tmp_path, tiny_ckpt):
    make_data(tmp_path / "data", n=3)
    prep = SyntheticPreparer()
    train(config(tmp_path, tiny_ckpt, "a", epochs=1), prep)
    assert prep.calls == 3
    train(config(tmp_path, tiny_ckpt, "b", epochs=1), prep)
    assert prep.calls == 3  # everything from the cache
    shutil.copy(tmp_path / "data" / "p0.png", tmp_path / "data" / "renamed.png")
    train(config(tmp_path, tiny_ckpt, "c", epochs=1), prep)
    assert prep.calls == 3  # same bytes under another name: same entry
    train(config(tmp_path, tiny_ckpt, "d", epochs=1, threshold=0.5), prep)
    assert prep.calls == 6  # another prompt configuration: recomputed


def _state(run: Path) -> dict:
    return torch.load(run / "last.pt", weights_only=True)


def test_resume_continues_exactly(tmp_path, tiny_ckpt):
    make_data(tmp_path / "data")
    prep = SyntheticPreparer()
    full = train(config(tmp_path, tiny_ckpt, "full"), prep)
    assert full["epochs_done"] == 3
    part = train(config(tmp_path, tiny_ckpt, "split", stop_after_epoch=1), prep)
    assert part["epochs_done"] == 1 and (tmp_path / "split" / "epoch_001.pt").is_file()
    rest = train(config(tmp_path, tiny_ckpt, "split", resume=True), prep)
    assert rest["epochs_done"] == 3
    a, b = _state(tmp_path / "full"), _state(tmp_path / "split")
    for k, v in a["screening"]["state_dict"].items():
        assert torch.equal(v, b["screening"]["state_dict"][k]), k
    assert a["scheduler"] == b["scheduler"]
    for k, st in a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["history"][-1]["loss"] < a["history"][0]["loss"]
    assert a["history"][-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine reached its end
    net = load_screening(tmp_path / "full" / "screening.pt")
    assert torch.equal(net.state_dict()["layers.0.norm.weight"], a["screening"]["state_dict"]["layers.0.norm.weight"])
    with pytest.raises(Exception, match="epochs"):
        train(config(tmp_path, tiny_ckpt, "split", resume=True, epochs=7), prep)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp(tmp_path, tiny_ckpt):
    make_data(tmp_path / "data", n=4)
    cfg = config(tmp_path, tiny_ckpt, "ddp", epochs=2, batch_size=1)
    # The parent fills the cache (the synthetic preparer stands in for the face pipeline);
    # each of the two processes then finds every entry there.
    build_cache(cfg, SamBackbone.from_checkpoint(tiny_ckpt), SyntheticPreparer())
    mp.spawn(spawn_worker, args=(2, _free_port(), cfg), nprocs=2, join=True)
    ckpt = _state(tmp_path / "ddp")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    assert all(h["world_size"] == 2 and h["steps"] == 2 for h in ckpt["history"])  # 4 faces / 2 ranks
    assert all(np.isfinite(h["loss"]) for h in ckpt["history"])


@pytest.mark.data
def test_cli_train_on_real_faces(tmp_path, tiny_ckpt):
    """The CLI with the real face pipeline (mediapipe, parsing, reference) on two photos."""
    if not SHARED_FACES.is_dir():
        pytest.skip(f"needs developer face photos in {SHARED_FACES}")
    from s3pot.errors import S3potError
    from s3pot.training.data import pipeline_preparer

    try:
        pipeline_preparer(align_size=256).__self__.generator  # noqa: B018 - builds the default generator
    except S3potError as exc:
        pytest.skip(f"default reference generator unavailable: {exc}")
    from s3pot.cli.main import main

    data = tmp_path / "data"
    (data / "masks").mkdir(parents=True)
    for name in sorted(os.listdir(SHARED_FACES))[:2]:
        shutil.copy(SHARED_FACES / name, data / name)
        (data / "masks" / name).write_bytes(b"not an image: must never be read")
    rc = main(["train", str(data), "-o", str(tmp_path / "run"), "--sam-checkpoint", str(tiny_ckpt),
               "--epochs", "1", "--size", "256", "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    assert load_screening(tmp_path / "run" / "screening.pt") is not None
