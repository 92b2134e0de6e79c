"""``s3pot eval`` end to end on generated folders: output formats and error cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3pot.cli.main import main
from s3pot.eval.metrics import METRIC_KEYS


def save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """Two occluded images (group a, b) and one clean image (group c), 8x8, with face/."""
    root = tmp_path / "ds"
    face = np.zeros((8, 8), np.uint8)
    face[1:7, 1:7] = 255
    for name, rows in (("one", slice(1, 3)), ("two", slice(4, 6)), ("clean", None)):
        save(root / "images" / f"{name}.png", np.full((8, 8, 3), 100, np.uint8))
        m = np.zeros((8, 8), np.uint8)
        if rows is not None:
            m[rows, 1:7] = 255
        save(root / "masks" / f"{name}.png", m)
        save(root / "face" / f"{name}.png", face)
    (root / "groups.csv").write_text("name,group\none,a\ntwo,b\nclean,c\n")
    return root


def write_preds(folder: Path, dataset: Path, style: str = "plain") -> None:
    for p in (dataset / "masks").iterdir():
        m = np.asarray(Image.open(p))
        name = f"{p.stem}.occlusion.png" if style == "occlusion" else p.name
        save(folder / name, m)


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv + ["--format", "json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_perfect_predictions_json(tmp_path: Path, dataset: Path, capsys) -> None:
    write_preds(tmp_path / "pred", dataset, style="occlusion")
    out = run_json(capsys, ["eval", str(tmp_path / "pred"), str(dataset)])
    assert set(METRIC_KEYS) <= set(out)
    assert out["occluder_iou"] == 1.0 and out["clean_fp_rate"] == 0.0
    assert set(out["groups"]) == {"a", "b", "c"}
    assert out["groups"]["c"]["n_clean"] == 1


def test_partial_predictions_by_hand(tmp_path: Path, dataset: Path, capsys) -> None:
    write_preds(tmp_path / "pred", dataset)
    # "two": predict only the first of its two rows (6 of 12 px); "clean": flag 3 face px
    half = np.zeros((8, 8), np.uint8)
    half[4, 1:7] = 255
    save(tmp_path / "pred" / "two.png", half)
    fp = np.zeros((8, 8), np.uint8)
    fp[2, 2:5] = 255
    save(tmp_path / "pred" / "clean.png", fp)
    out = run_json(capsys, ["eval", str(tmp_path / "pred"), str(dataset)])
    assert out["occluder_iou"] == pytest.approx(18 / 27)
    assert out["mean_iou"] == pytest.approx((1 + 0.5) / 2)
    assert out["precision"] == pytest.approx(18 / 21)
    assert out["recall"] == pytest.approx(18 / 24)
    assert out["clean_fp_rate"] == pytest.approx(3 / 36)
    assert out["groups"]["b"]["occluder_iou"] == pytest.approx(0.5)


def test_markdown_table_and_plot(tmp_path: Path, dataset: Path, capsys) -> None:
    write_preds(tmp_path / "pred", dataset)
    plot = tmp_path / "plot.png"
    assert main(["eval", str(tmp_path / "pred"), str(dataset), "--plot", str(plot), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| set | n | occ IoU" in out and "| all | 3 | 100.0 |" in out
    with Image.open(plot) as img:
        assert img.format == "PNG" and img.size[0] > 300


def test_missing_prediction_is_an_error(tmp_path: Path, dataset: Path, capsys) -> None:
    write_preds(tmp_path / "pred", dataset)
    (tmp_path / "pred" / "two.png").unlink()
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(tmp_path / "pred"), str(dataset), "--quiet"])
    assert "two.png" in str(exc.value) and "missing prediction" in str(exc.value)


def test_prediction_size_mismatch_names_the_file(tmp_path: Path, dataset: Path) -> None:
    write_preds(tmp_path / "pred", dataset)
    save(tmp_path / "pred" / "one.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(tmp_path / "pred"), str(dataset), "--quiet"])
    msg = str(exc.value)
    assert "one.png" in msg and "9x8" in msg and "8x8" in msg


def test_method_empty(dataset: Path, capsys) -> None:
    out = run_json(capsys, ["eval", "--method", "empty", str(dataset), "--no-groups"])
    assert out["occluder_iou"] == 0.0 and out["precision"] is None
    assert out["clean_fp_rate"] == 0.0 and "groups" not in out


def test_wrong_number_of_paths(dataset: Path) -> None:
    with pytest.raises(SystemExit, match="expected 2 path"):
        main(["eval", str(dataset)])
    with pytest.raises(SystemExit, match="expected 1 path"):
        main(["eval", "--method", "empty", str(dataset), str(dataset)])


def test_shared_bench_ground_truth_scores_perfectly(capsys) -> None:
    bench = Path(__file__).resolve().parents[2] / "shared" / "data" / "bench"
    if not (bench / "masks").is_dir():
        pytest.skip(f"dev benchmark not present ({bench}); the ../shared data folder is absent")
    out = run_json(capsys, ["eval", str(bench / "masks"), str(bench), "--limit", "20"])
    assert out["occluder_iou"] == 1.0 and out["n_images"] == 20
