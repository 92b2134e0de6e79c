"""``s3pot fit-reference``: builds a model from any folder of faces, deterministically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from s3pot.image_io import save_image


def _faces_folder(tmp: Path) -> Path:
    """Variants of skimage's astronaut (one face) and a blank image (no face)."""
    from skimage import data

    base = data.astronaut()[20:260, 120:340]  # the face with some margin
    folder = tmp / "faces"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        img = base.astype(np.float32)
        img = img * rng.uniform(0.7, 1.2) + rng.uniform(-15, 15, size=3)
        angle = rng.uniform(-8, 8)
        m = cv2.getRotationMatrix2D((110, 120), angle, rng.uniform(0.9, 1.1))
        img = cv2.warpAffine(np.clip(img, 0, 255).astype(np.uint8), m, (220, 240),
                             borderMode=cv2.BORDER_REFLECT)
        if i % 2:
            img = img[:, ::-1]
        save_image(folder / f"person{i % 3}_{i:02d}.png", np.ascontiguousarray(img))
    save_image(folder / "blank_00.png", np.full((200, 200, 3), 128, np.uint8))
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _faces_folder(tmp_path_factory.mktemp("fit"))


def test_fit_reference_is_deterministic_and_skips_non_faces(folder: Path, tmp_path: Path) -> None:
    from s3pot.cli.main import main

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (a, b):
        rc = main(["fit-reference", str(folder), "-o", str(out), "--components", "4",
                   "--grid", "24", "--seed", "3", "--quiet"])
        assert rc == 0
    za, zb = np.load(a), np.load(b)
    assert sorted(za.files) == sorted(zb.files)
    for k in za.files:
        assert np.array_equal(za[k], zb[k]), k
    import json

    meta = json.loads(str(za["meta"]))
    assert meta["n_images"] == 7
    assert meta["n_faces"] == 6 and meta["n_skipped"] == 1
    assert not list(tmp_path.glob("*.part"))  # atomic write leaves no temporary behind


def test_fitted_model_drives_the_generator(folder: Path, tmp_path: Path) -> None:
    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh
    from s3pot.image_io import load_image
    from s3pot.reference.fit import align_face, fit_folder
    from s3pot.reference.pca import build_pca_generator

    out = tmp_path / "m.npz"
    fit_folder(folder, out, components=4, grid=24, seed=0, progress=False)
    gen = build_pca_generator(str(out))
    img = load_image(sorted(folder.glob("person*.png"))[0])
    det = MediapipeFaceMesh()
    try:
        face = det.detect(img)[0]
    finally:
        det.close()
    aligned, lm = align_face(img, face.landmarks, 256)
    ref = gen.generate(aligned, lm, np.zeros((256, 256), np.uint8))
    assert ref.image.shape == aligned.shape
    # A face from the fitting set is explained: the reference stays close to it.
    assert np.abs(ref.image.astype(float) - aligned).mean() < 6.0


def test_fit_reference_rejects_bad_output_name(folder: Path, tmp_path: Path) -> None:
    from s3pot.cli.main import main

    assert main(["fit-reference", str(folder), "-o", str(tmp_path / "m.bin"), "--quiet"]) == 2


def test_too_few_faces_says_which_photos_were_skipped(tmp_path: Path, capsys) -> None:
    from s3pot.cli.main import main

    folder = tmp_path / "few"
    folder.mkdir()
    save_image(folder / "blank.png", np.full((120, 120, 3), 90, np.uint8))
    (folder / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest")
    out = tmp_path / "m.npz"
    assert main(["fit-reference", str(folder), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "need at least 2 faces" in err and "found 0 in 2 photo(s) (2 skipped)" in err
    assert f"skipped {folder / 'blank.png'}: no whole face found" in err
    assert f"skipped {folder / 'cut.jpg'}:" in err
    assert not out.exists()


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    from s3pot.errors import CheckpointError
    from s3pot.reference.pca import PCAReferenceGenerator

    with pytest.raises(CheckpointError, match="not found"):
        PCAReferenceGenerator(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, foo=np.zeros(3))
    with pytest.raises(CheckpointError, match="missing"):
        PCAReferenceGenerator(bad)


def test_median_scale_ignores_a_minority_of_occluded_calibration_faces() -> None:
    """Residual scales come from the typical clean face: a fifth of the calibration faces
    with a large residual (hair, a hand) at some texels inflates the RMS there, not the
    median; on all-clean Gaussian residuals both agree."""
    from s3pot.reference.fit import residual_scale

    rng = np.random.default_rng(0)
    sigma = 4.0
    res = rng.normal(0, sigma, (2000, 50, 3))
    ms = (res**2).mean(2)  # per-face mean square over the colour channels
    rms, med = residual_scale(ms, "rms"), residual_scale(ms, "median")
    assert np.allclose(rms, sigma, rtol=0.06) and np.allclose(med, sigma, rtol=0.06)
    assert np.allclose(residual_scale(ms, "p70"), sigma, rtol=0.06)  # the default
    occluded = res.copy()
    occluded[:400, :10] += 60.0  # 20 % of faces, texels 0-9
    ms = (occluded**2).mean(2)
    rms, med, p70 = (residual_scale(ms, s) for s in ("rms", "median", "p70"))
    assert rms[:10].min() > 5 * sigma  # the RMS learns that 60 grey levels are normal here
    assert np.allclose(med[:10], sigma, rtol=0.35)  # the median barely moves
    assert p70[:10].max() < 2.5 * sigma < rms[:10].min() / 2
    assert np.allclose(med[10:], sigma, rtol=0.06)
    for bad in ("mean", "p0", "p100", "pxx"):
        with pytest.raises(ValueError, match="unknown residual scale"):
            residual_scale(ms, bad)


def test_fit_reference_records_its_residual_scale(folder: Path, tmp_path: Path) -> None:
    import json

    from s3pot.cli.main import main

    out = {}
    for scale in ("p70", "rms"):
        path = tmp_path / f"{scale}.npz"
        rc = main(["fit-reference", str(folder), "-o", str(path), "--components", "4",
                   "--grid", "24", "--seed", "3", "--quiet", "--residual-scale", scale])
        assert rc == 0
        with np.load(path) as z:
            assert json.loads(str(z["meta"]))["residual_scale"] == scale
            out[scale] = z["texel_rms"].copy()
    assert not np.array_equal(out["p70"], out["rms"])  # the option reaches the fit
