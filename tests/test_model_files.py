"""The project's own model files (.npz): every broken kind of file is one CheckpointError line
naming it, for each loader (face model, outline model, evidence prior) and on the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from s3pot.errors import CheckpointError
from s3pot.model_files import read_npz
from s3pot.parsing.outline import OutlineModel
from s3pot.reference.pca import PCAReferenceGenerator, default_model_path
from s3pot.segmenters.evidence import EvidencePrior, default_prior_path


def _archive(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def broken_files(folder: Path) -> dict[str, Path]:
    """One file per way a model file breaks, with the words its error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _archive(a=np.arange(4000, dtype=np.float32) % 7)
    corrupt = bytearray(good)
    mid = len(corrupt) // 2
    corrupt[mid - 40:mid + 40] = b"\xff" * 80  # inside the compressed member
    files = {
        "empty.npz": b"",
        "text.npz": b"hello, not a model\n",
        "half.npz": good[: len(good) // 2],  # a download cut short
        "corrupt.npz": bytes(corrupt),
    }
    out = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    np.save(folder / "array.npy", np.zeros(3))
    out["array.npy"] = folder / "array.npy"
    return out


EXPECTED = {"empty.npz": "empty file", "text.npz": "not an .npz archive",
            "half.npz": "truncated or corrupt", "corrupt.npz": "truncated or corrupt",
            "array.npy": "not an .npz archive"}

LOADERS = {
    "reference model": PCAReferenceGenerator,
    "evidence prior": EvidencePrior.load,
    "face outline model": OutlineModel.load,
}


@pytest.mark.parametrize("what", list(LOADERS))
def test_every_broken_file_is_one_line_naming_it(tmp_path: Path, what: str) -> None:
    for name, path in broken_files(tmp_path / "bad").items():
        with pytest.raises(CheckpointError) as info:
            LOADERS[what](path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert what in message and EXPECTED[name] in message, message
    for path, words in ((tmp_path / "missing.npz", "not found"), (tmp_path, "is a folder")):
        with pytest.raises(CheckpointError, match=words):
            LOADERS[what](path)


def test_read_npz_reads_every_array_of_a_good_archive(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    path.write_bytes(_archive(x=np.arange(5), y=np.eye(2)))
    arrays = read_npz(path, "test model")
    assert set(arrays) == {"x", "y"}
    np.testing.assert_array_equal(arrays["y"], np.eye(2))
    # The shipped files load through it.
    assert "basis" in read_npz(default_model_path(), "reference model")
    assert "q90" in read_npz(default_prior_path(), "evidence prior")


def test_a_cut_short_reference_model_on_the_cli_is_one_line(tmp_path: Path, capsys) -> None:
    from s3pot.cli.main import main

    model = tmp_path / "model.npz"
    model.write_bytes(default_model_path().read_bytes()[:100_000])
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photo)
    with pytest.raises(SystemExit) as info:
        main(["segment", str(photo), "-o", str(tmp_path / "out"), "--quiet",
              "--reference-model", str(model)])
    message = str(info.value.code)
    assert message == f"s3pot: {model}: not a readable reference model (truncated or corrupt archive)"
    assert "photos:" not in capsys.readouterr().err
