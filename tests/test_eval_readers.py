"""Each dataset reader on tiny generated examples, and its error cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3pot.eval.dataset import DatasetError, read_mask
from s3pot.eval.groups import read_groups
from s3pot.eval.readers import detect_layout, open_dataset
from s3pot.eval.readers.celebamask import CLASS_ID, labels_to_gt
from s3pot.eval.readers.labelme import encode_image_data


def save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def rgb(h: int, w: int, value: int = 90) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def u8(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * 255


def test_read_mask_accepts_0_255_and_0_1(tmp_path: Path) -> None:
    a = np.zeros((4, 5), np.uint8)
    a[1, 2] = 255
    save(tmp_path / "a.png", a)
    save(tmp_path / "b.png", (a > 0).astype(np.uint8))
    assert read_mask(tmp_path / "a.png").sum() == 1
    assert np.array_equal(read_mask(tmp_path / "a.png"), read_mask(tmp_path / "b.png"))


def make_folders(root: Path, with_face: bool = True) -> tuple[np.ndarray, np.ndarray]:
    occ = np.zeros((6, 8), bool)
    occ[1:3, 2:5] = True
    face = np.zeros((6, 8), bool)
    face[0:5, 1:7] = True
    save(root / "images" / "x.jpg", rgb(6, 8))
    save(root / "masks" / "x.png", u8(occ))
    if with_face:
        save(root / "face" / "x.png", u8(face))
    return occ, face


def test_folders_reader(tmp_path: Path) -> None:
    occ, face = make_folders(tmp_path)
    (tmp_path / "families.csv").write_text("name,family,coverage\nx.png,hat,0.2\n")
    assert detect_layout(tmp_path) == "folders"
    ds = open_dataset(tmp_path)
    assert [s.name for s in ds.samples] == ["x"]
    gt = ds.samples[0].load_gt()
    assert np.array_equal(gt.occlusion, occ) and np.array_equal(gt.face, face)
    assert np.array_equal(gt.visible_face(), face & ~occ)
    assert ds.groups_csv == tmp_path / "families.csv"
    assert read_groups(ds.groups_csv) == {"x": "hat"}


def test_folders_visible_polarity(tmp_path: Path) -> None:
    occ, face = make_folders(tmp_path)
    save(tmp_path / "masks" / "x.png", u8(face & ~occ))  # masks now mark the visible face
    gt = open_dataset(tmp_path, polarity="visible").samples[0].load_gt()
    assert np.array_equal(gt.occlusion, occ)
    assert np.array_equal(gt.visible, face & ~occ)


def test_folders_size_mismatch_names_the_mask(tmp_path: Path) -> None:
    make_folders(tmp_path)
    save(tmp_path / "masks" / "x.png", np.zeros((5, 8), np.uint8))
    ds = open_dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"masks/x\.png.*8x5.*8x6"):
        ds.samples[0].load_gt()


def test_folders_missing_mask(tmp_path: Path) -> None:
    make_folders(tmp_path)
    save(tmp_path / "images" / "y.png", rgb(6, 8))
    with pytest.raises(DatasetError, match=r"y\.png.*missing mask"):
        open_dataset(tmp_path)


def test_realocc_reader_visible_masks(tmp_path: Path) -> None:
    visible = np.zeros((6, 8), bool)
    visible[1:5, 2:6] = True
    save(tmp_path / "image" / "a.jpg", rgb(6, 8))
    save(tmp_path / "image" / "b.jpg", rgb(6, 8))
    save(tmp_path / "mask" / "a.png", visible.astype(np.uint8))  # RealOcc stores class ids 0/1
    save(tmp_path / "mask" / "b.png", visible.astype(np.uint8))
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "val.txt").write_text("b\n")
    assert detect_layout(tmp_path) == "realocc"
    ds = open_dataset(tmp_path, split="val")
    assert [s.name for s in ds.samples] == ["b"]
    gt = ds.samples[0].load_gt()
    assert np.array_equal(gt.visible, visible)
    assert gt.occlusion is None  # no face region: occlusion cannot be known
    # with a face region, occlusion = face minus visible
    face = np.zeros((6, 8), bool)
    face[0:6, 2:6] = True
    save(tmp_path / "face" / "b.png", u8(face))
    gt = open_dataset(tmp_path, split="val").samples[0].load_gt()
    assert np.array_equal(gt.occlusion, face & ~visible)


def test_realocc_split_with_unknown_name(tmp_path: Path) -> None:
    save(tmp_path / "image" / "a.jpg", rgb(4, 4))
    save(tmp_path / "mask" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "val.txt").write_text("zzz\n")
    with pytest.raises(DatasetError, match="zzz"):
        open_dataset(tmp_path, split="val")


def labelme_doc(image_name: str, h: int, w: int, shapes: list[dict], data: str | None = None) -> dict:
    return {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image_name,
            "imageData": data, "imageHeight": h, "imageWidth": w}


def shape(label: str, points: list[list[float]], kind: str = "polygon") -> dict:
    return {"label": label, "points": points, "group_id": None, "shape_type": kind, "flags": {}}


def test_labelme_reader(tmp_path: Path) -> None:
    save(tmp_path / "p.jpg", rgb(10, 12))
    doc = labelme_doc("p.jpg", 10, 12, [
        shape("hand", [[2, 2], [5, 4]], "rectangle"),
        shape("face", [[1, 1], [10, 1], [10, 8], [1, 8]]),
        shape("mic", [[8, 6], [9, 6], [9, 7]]),
    ])
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert detect_layout(tmp_path) == "labelme"
    gt = open_dataset(tmp_path).samples[0].load_gt()
    expected = np.zeros((10, 12), bool)
    expected[2:5, 2:6] = True  # rectangle with its outline: x 2..5, y 2..4
    assert gt.occlusion[2:5, 2:6].all() and gt.occlusion[:, :8].sum() == expected.sum()
    assert gt.occlusion[6:8, 8:10].any()  # the mic triangle counts as an occluder
    assert gt.face[1:9, 1:11].all() and gt.face.sum() == 8 * 10
    only_hand = open_dataset(tmp_path, occluder_labels=["hand"]).samples[0].load_gt()
    assert np.array_equal(only_hand.occlusion, expected)


def test_labelme_embedded_image_and_size_mismatch(tmp_path: Path) -> None:
    doc = labelme_doc("missing.jpg", 6, 6, [shape("x", [[0, 0], [3, 0], [3, 3]])],
                      data=encode_image_data(rgb(6, 6)))
    (tmp_path / "e.json").write_text(json.dumps(doc))
    ds = open_dataset(tmp_path, layout="labelme")
    assert ds.samples[0].load_image().shape == (6, 6, 3)
    assert ds.samples[0].load_gt().occlusion.any()
    doc["imageHeight"] = 7
    (tmp_path / "e.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"e\.json.*annotated for 6x7"):
        open_dataset(tmp_path, layout="labelme").samples[0].load_gt()


def celeba_labels() -> np.ndarray:
    """A 16x16 label map: a skin square with eyes, a strand of hair across it."""
    lab = np.zeros((16, 16), np.uint8)
    lab[3:13, 3:13] = CLASS_ID["skin"]
    lab[6, 5] = lab[6, 10] = CLASS_ID["l_eye"]
    lab[8, 3:13] = CLASS_ID["hair"]  # crosses the face: inside the hull of the face classes
    lab[0:2, :] = CLASS_ID["hair"]  # above the face: outside the hull, not occlusion
    return lab


def test_celebamask_labels_to_gt() -> None:
    lab = celeba_labels()
    gt = labels_to_gt(lab, ["hair"])
    assert gt.occlusion.sum() == 10 and gt.occlusion[8, 3:13].all()
    assert not gt.occlusion[0:2].any()
    assert np.array_equal(gt.visible, np.isin(lab, [CLASS_ID["skin"], CLASS_ID["l_eye"]]))


def test_celebamask_per_class_files(tmp_path: Path) -> None:
    lab = celeba_labels()
    save(tmp_path / "CelebA-HQ-img" / "3.jpg", rgb(32, 32))  # photo twice the annotation
    for cls in ("skin", "l_eye", "hair"):
        save(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / f"00003_{cls}.png",
             u8(lab == CLASS_ID[cls]) if cls != "skin" else u8(lab > 0))
    assert detect_layout(tmp_path) == "celebamask"
    ds = open_dataset(tmp_path, occluder_classes=["hair"])
    sample = ds.samples[0]
    assert sample.load_image().shape == (16, 16, 3)  # area-halved to the annotation frame
    gt = sample.load_gt()
    assert np.array_equal(gt.occlusion, labels_to_gt(lab, ["hair"]).occlusion)
    with pytest.raises(ValueError, match="unknown CelebAMask-HQ class"):
        open_dataset(tmp_path, occluder_classes=["hands"])


def test_celebamask_bad_ratio_is_an_error(tmp_path: Path) -> None:
    save(tmp_path / "5.jpg", rgb(20, 20))
    save(tmp_path / "5.png", celeba_labels())
    ds = open_dataset(tmp_path, layout="celebamask")
    with pytest.raises(DatasetError, match=r"5\.png.*16x16.*20x20"):
        ds.samples[0].load_gt()


def test_celebamask_shared_samples(celebamask_dir: Path) -> None:
    ds = open_dataset(celebamask_dir, layout="celebamask", occluder_classes=["hair"])
    assert len(ds) == 4
    gt = ds.samples[0].load_gt()
    assert gt.occlusion.shape == (512, 512) and gt.visible.any()
    assert ds.samples[0].load_image().shape == (512, 512, 3)


def test_groups_csv_needs_columns(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("file,kind\na,b\n")
    with pytest.raises(DatasetError, match="'name' and 'group'"):
        read_groups(tmp_path / "g.csv")
    (tmp_path / "g.csv").write_text("name,group\na,b\nc.jpg,d\n")
    assert read_groups(tmp_path / "g.csv") == {"a": "b", "c": "d"}
