"""Synthetic occlusion: masks against the occluder alpha, determinism, the folder writer."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3pot.cli.main import main
from s3pot.eval.dataset import DatasetError
from s3pot.eval.synth import synthesize
from s3pot.eval.synth.cutouts import kind_of, load_cutout, load_cutouts
from s3pot.eval.synth.generate import select_kinds, synthesize_folder
from s3pot.eval.synth.geometry import face_frame


def make_occluders(folder: Path) -> Path:
    """Two RGBA cut-outs: dark 'glasses' (two lenses on a bar) and a green blob."""
    folder.mkdir(parents=True, exist_ok=True)
    g = np.zeros((40, 120, 4), np.uint8)
    g[5:35, 5:50] = (20, 20, 20, 255)
    g[5:35, 70:115] = (20, 20, 20, 255)
    g[15:20, 50:70] = (20, 20, 20, 255)
    Image.fromarray(g, "RGBA").save(folder / "test_glasses.png")
    yy, xx = np.mgrid[:60, :60]
    blob = np.zeros((60, 60, 4), np.uint8)
    blob[..., 1] = 200
    blob[..., 3] = np.where((yy - 30) ** 2 + (xx - 30) ** 2 < 27**2, 255, 0)
    Image.fromarray(blob, "RGBA").save(folder / "blob.png")
    return folder


@pytest.fixture(scope="module")
def cutouts(tmp_path_factory) -> list:
    return load_cutouts(make_occluders(tmp_path_factory.mktemp("occ")))


@pytest.mark.parametrize("kind", ["test_glasses", "blob", "proc_poly", "proc_ellipse", "proc_bar"])
def test_mask_is_alpha_inside_face(astronaut, astronaut_landmarks, cutouts, kind) -> None:
    res = synthesize(astronaut, astronaut_landmarks, kind, np.random.default_rng(5), cutouts,
                     crop_source=lambda rng: astronaut)
    assert res.group == kind
    assert np.array_equal(res.mask, (res.alpha > 0.5) & res.face)
    assert res.mask.any() and 0 < res.coverage <= 1
    untouched = res.alpha == 0
    assert np.array_equal(res.image[untouched], astronaut[untouched])
    covered = res.alpha > 0.99
    assert np.abs(res.image[covered].astype(int) - astronaut[covered]).mean() > 5


def test_glasses_sit_on_the_eyes(astronaut, astronaut_landmarks, cutouts) -> None:
    res = synthesize(astronaut, astronaut_landmarks, "test_glasses", np.random.default_rng(1), cutouts)
    f = face_frame(astronaut_landmarks)
    ys, xs = np.nonzero(res.alpha > 0.5)
    centre = np.array([xs.mean(), ys.mean()])
    assert np.linalg.norm(centre - f.eye_centre) < 0.2 * f.width
    assert 0.7 * f.width < np.ptp(xs) < 1.4 * f.width


def test_procedural_coverage_follows_target(astronaut, astronaut_landmarks) -> None:
    res = synthesize(astronaut, astronaut_landmarks, "proc_ellipse", np.random.default_rng(2),
                     coverage_range=(0.3, 0.3))
    assert res.coverage == pytest.approx(0.3, abs=0.05)


def test_clean_and_determinism(astronaut, astronaut_landmarks, cutouts) -> None:
    clean = synthesize(astronaut, astronaut_landmarks, "clean", np.random.default_rng(0), cutouts)
    assert not clean.mask.any() and np.array_equal(clean.image, astronaut) and clean.face.any()
    a = synthesize(astronaut, astronaut_landmarks, "proc_poly", np.random.default_rng([3, 1]), cutouts)
    b = synthesize(astronaut, astronaut_landmarks, "proc_poly", np.random.default_rng([3, 1]), cutouts)
    c = synthesize(astronaut, astronaut_landmarks, "proc_poly", np.random.default_rng([3, 2]), cutouts)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_unknown_kind_and_selection(cutouts) -> None:
    with pytest.raises(ValueError, match="unknown occluder kind"):
        select_kinds(cutouts, None, ["hands"])
    assert "test_glasses" not in select_kinds(cutouts, None, ["glasses"])  # by placement kind
    assert select_kinds(cutouts, ["proc_bar"], None) == ["proc_bar"]
    assert kind_of("straw_hat") == "hat" and kind_of("surgical_mask") == "mask"


def test_cutout_without_alpha_is_an_error(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "flat.png")
    with pytest.raises(DatasetError, match=r"flat\.png.*no alpha"):
        load_cutout(tmp_path / "flat.png")


def test_folder_writer_is_deterministic(tmp_path: Path, astronaut, detector) -> None:
    faces = tmp_path / "faces"
    faces.mkdir()
    Image.fromarray(astronaut).save(faces / "a.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:300, 60:380])).save(faces / "b.png")
    occ = make_occluders(tmp_path / "occ")
    outs = []
    for run in ("one", "two"):
        out = tmp_path / run
        s = synthesize_folder(faces, occ, out, count=5, seed=7, clean_fraction=0.2,
                              detector=detector)
        assert s.written == 5 and not s.skipped_sources
        outs.append(out)
    for sub in ("images", "masks", "face"):
        names = sorted(p.name for p in (outs[0] / sub).iterdir())
        assert len(names) == 5
        for n in names:
            assert (outs[0] / sub / n).read_bytes() == (outs[1] / sub / n).read_bytes()
    with (outs[0] / "groups.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [f"s{i:05d}" for i in range(5)]
    for r in rows:
        mask = np.asarray(Image.open(outs[0] / "masks" / f"{r['name']}.png")) > 0
        face = np.asarray(Image.open(outs[0] / "face" / f"{r['name']}.png")) > 0
        assert not (mask & ~face).any()  # GT lies inside the face region
        assert (r["group"] == "clean") == (not mask.any())


def test_cli_synth_errors(tmp_path: Path) -> None:
    (tmp_path / "faces").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "faces" / "x.png")
    with pytest.raises(SystemExit, match="occluder folder not found"):
        main(["synth", str(tmp_path / "faces"), str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="clean-fraction"):
        main(["synth", str(tmp_path / "faces"), str(tmp_path), "-o", str(tmp_path / "o"),
              "--clean-fraction", "2"])


def test_flat_mask_covers_the_lower_face_only(astronaut, astronaut_landmarks) -> None:
    from s3pot.eval.synth.masks import MASK_COLOURS, NOSE_BRIDGE, draw_mask, mask_polygon

    poly = mask_polygon(astronaut_landmarks)
    assert poly[:, 1].min() > astronaut_landmarks[NOSE_BRIDGE, 1]  # below the nose bridge
    out, mask = draw_mask(astronaut, poly, MASK_COLOURS["light blue"])
    chin, mouth = astronaut_landmarks[152], astronaut_landmarks[13]
    assert mask[int(mouth[1]), int(mouth[0])] and mask[int(chin[1]) - 3, int(chin[0])]
    eye = astronaut_landmarks[33]
    assert not mask[int(eye[1]), int(eye[0])]
    assert np.array_equal(out[~mask], astronaut[~mask])  # nothing else touched
    inside = out[mask].astype(float)
    assert np.abs(inside - np.array(MASK_COLOURS["light blue"])).max() <= 0.11 * 225 + 1  # shading only
