"""Face outline of the 68-point convention predicted from the mesh (s3pot.parsing.outline)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from s3pot.errors import CheckpointError
from s3pot.parsing.base import CLASS_ID, face_region
from s3pot.parsing.landmarks import LandmarkParser, face_axes, face_polygon, parse_landmarks
from s3pot.parsing.outline import (
    FOREHEAD_LIFT,
    OutlineModel,
    _unit_frame,
    default_model,
    fit_outline,
    input_points,
    outline_from_68,
    read_annotations,
)

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench"


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    m = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([m, np.array(shift)[:, None]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def _known_relation(mesh: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """68 'annotated' points that are an exact linear function of the mesh's input points
    in its unit frame (what the regression can represent), mapped back to the photo."""
    t = _unit_frame(mesh)
    x = t.to_aligned(mesh[input_points()]).reshape(-1) / 256
    return t.to_photo((x @ a + b).reshape(68, 2) * 256)


def test_fit_recovers_a_linear_relation(astronaut_landmarks) -> None:
    rng = np.random.default_rng(0)
    p = len(input_points())
    a = np.zeros((2 * p, 136))
    pick = rng.integers(0, 2 * p, 136)
    a[pick, np.arange(136)] = 1.0  # each output coordinate copies one input coordinate ...
    b = rng.normal(0, 0.02, 136)  # ... plus an offset
    meshes, anns = [], []
    for _ in range(2 * p + 100):  # more faces than input coordinates
        # Faces that differ in shape (not only in pose), so the relation is identifiable.
        shape = astronaut_landmarks + rng.normal(0, 1.5, astronaut_landmarks.shape)
        m = _similarity(rng.uniform(-40, 40), rng.uniform(0.5, 2.0), rng.uniform(0, 300, 2))
        mesh = _apply(m, shape)
        meshes.append(mesh)
        anns.append(_known_relation(mesh, a, b))
    model = fit_outline(np.array(meshes), np.array(anns), alpha=1e-6, mirror=False)
    test_mesh = _apply(_similarity(15, 1.3, (40, 10)), astronaut_landmarks)
    err = np.abs(model.predict68(test_mesh) - _known_relation(test_mesh, a, b)).max()
    assert err < 0.05, err


def test_prediction_moves_with_the_face(astronaut_landmarks) -> None:
    """The model reads the mesh in its own aligned frame: rolling, scaling or moving the
    face moves the predicted points the same way."""
    model = default_model()
    base = model.predict68(astronaut_landmarks)
    for angle, scale, shift in ((30, 1.0, (0, 0)), (-75, 2.5, (100, -40)), (180, 0.4, (7, 300))):
        m = _similarity(angle, scale, shift)
        got = model.predict68(_apply(m, astronaut_landmarks))
        np.testing.assert_allclose(got, _apply(m, base), atol=1e-6 * scale * 500)


def test_shipped_model_traces_the_jaw(astronaut_landmarks) -> None:
    """On a real face the predicted jaw runs along the mesh's oval (within a few percent of
    the face width), the chin at the mesh's chin, the brows above the eyes."""
    from s3pot.faces.topology import parts

    pts = default_model().predict68(astronaut_landmarks)
    oval = astronaut_landmarks[parts()["oval"]].astype(np.float32).reshape(-1, 1, 2)
    width = np.ptp(astronaut_landmarks[:, 0])
    dist = [abs(cv2.pointPolygonTest(oval, (float(x), float(y)), True)) for x, y in pts[0:17]]
    assert max(dist) < 0.08 * width, dist
    assert np.linalg.norm(pts[8] - astronaut_landmarks[152]) < 0.05 * width
    _, up = face_axes(astronaut_landmarks)
    assert (pts[17:27] @ up).mean() > (pts[36:48] @ up).mean() + 0.03 * width


def test_outline_from_68_lifts_the_brows_to_the_forehead() -> None:
    pts = np.zeros((68, 2))
    pts[0:17, 0] = np.linspace(0, 160, 17)
    pts[0:17, 1] = 100 + 60 * np.sin(np.linspace(0, np.pi, 17))  # jaw, image y down
    pts[17:27, 0] = np.linspace(20, 140, 10)
    pts[17:27, 1] = 60
    pts[33] = (80, 110)
    pts[36:42] = (50, 75)
    pts[42:48] = (110, 75)
    poly = outline_from_68(pts)
    assert poly.shape == (27, 2)
    np.testing.assert_allclose(poly[:17], pts[:17])
    top = poly[17:, 1]
    h = FOREHEAD_LIFT * 50  # brows (y 60) to nose base (y 110)
    assert top.min() == pytest.approx(60 - h, abs=1.5)  # the centre rises the most
    assert top[0] > top.min() and top[-1] > top.min()  # lower at the temples
    assert poly[17, 0] > poly[-1, 0]  # brows run image-right to image-left: a simple ring


def test_parser_default_region_is_the_68_outline(astronaut_landmarks) -> None:
    parsing = parse_landmarks(astronaut_landmarks, (512, 512))
    canvas = np.zeros((512, 512), np.uint8)
    poly = np.round(face_polygon(astronaut_landmarks) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [poly], 1, shift=4)
    region = face_region(parsing)
    iou = (region & (canvas > 0)).sum() / (region | (canvas > 0)).sum()
    assert iou > 0.99
    mesh = face_region(LandmarkParser(outline="mesh").parse(np.zeros((512, 512, 3), np.uint8),
                                                             astronaut_landmarks))
    assert (mesh != region).any()  # the two outlines are different curves
    assert (parsing == CLASS_ID["skin"]).any()
    with pytest.raises(ValueError, match="unknown face outline"):
        LandmarkParser(outline="nope")


def test_load_errors_are_one_line(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        OutlineModel.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(CheckpointError, match="not a readable face outline model") as exc:
        OutlineModel.load(bad)
    assert "\n" not in str(exc.value)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, points=np.arange(3), mean_in=np.zeros(6), weights=np.zeros((6, 5)),
             mean_out=np.zeros(136))
    with pytest.raises(CheckpointError, match="shapes"):
        OutlineModel.load(wrong)


def test_read_annotations(tmp_path) -> None:
    f = tmp_path / "lm.csv"
    rows = [[""] + [str(i) for i in range(136)], ["a.jpg"] + [str(float(i)) for i in range(136)]]
    with open(f, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    ann = read_annotations(f)
    assert list(ann) == ["a.jpg"] and ann["a.jpg"].shape == (68, 2)
    assert ann["a.jpg"][1].tolist() == [2.0, 3.0]
    empty = tmp_path / "empty.csv"
    empty.write_text("name,x\n")
    with pytest.raises(ValueError, match="no rows"):
        read_annotations(empty)


def test_fitting_command_end_to_end(tmp_path, astronaut, astronaut_landmarks) -> None:
    """``python -m s3pot.parsing.outline`` on photos it finds faces in: the model it writes
    reproduces the annotations it was fitted on."""
    rng = np.random.default_rng(1)
    pick = np.array(input_points())[rng.integers(0, len(input_points()), 68)]
    photos = tmp_path / "faces"
    photos.mkdir()
    rows = []
    for i, (angle, scale) in enumerate(((0, 1.0), (12, 0.9), (-15, 1.1), (25, 0.8))):
        m = cv2.getRotationMatrix2D((256, 256), angle, scale)
        cv2.imwrite(str(photos / f"p{i}.png"),
                    cv2.cvtColor(cv2.warpAffine(astronaut, m, (512, 512)), cv2.COLOR_RGB2BGR))
        ann = _apply(m, astronaut_landmarks[pick] + 3.0)  # 'annotated' 3 px off the mesh points
        rows.append([f"p{i}.png"] + [f"{v:.3f}" for v in ann.reshape(-1)])
    rows.append(["missing.png"] + ["1"] * 136)
    lm_csv = tmp_path / "lm.csv"
    with open(lm_csv, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "model.npz"
    proc = subprocess.run([sys.executable, "-m", "s3pot.parsing.outline", str(photos), str(lm_csv),
                           "-o", str(out), "--alpha", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fitted on 4 faces of 5 photos" in proc.stdout
    assert "missing.png" in proc.stderr  # the unreadable photo is named, the fit goes on
    model = OutlineModel.load(out)
    fitted = model.predict68(astronaut_landmarks)
    err = np.linalg.norm(fitted - (astronaut_landmarks[pick] + 3.0), axis=1)
    assert np.median(err) < 3.0, err


@pytest.mark.data
def test_predicted_outline_matches_the_annotated_face_region(detector) -> None:
    """On the dev bench, whose face regions come from 68-point annotations, the predicted
    outline matches them better than the mesh's oval does."""
    if not (BENCH / "families.csv").exists():
        pytest.skip(f"developers' bench not found at {BENCH} (../shared/data/bench)")
    from s3pot.image_io import load_image

    names = sorted(p.stem for p in (BENCH / "images").glob("*.png"))[::5]
    ious = {"68": [], "mesh": []}
    for name in names:
        image = load_image(BENCH / "images" / f"{name}.png")
        truth = load_image(BENCH / "face" / f"{name}.png")[..., 0] > 127
        faces = detector.detect(image)
        if not faces:
            continue
        lm = max(faces, key=lambda f: np.ptp(f.landmarks[:, 0])).landmarks
        for style in ious:
            canvas = np.zeros(truth.shape, np.uint8)
            poly = face_polygon(lm, style, jaw_margin=0.05)
            cv2.fillPoly(canvas, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
            got = canvas > 0
            ious[style].append((got & truth).sum() / (got | truth).sum())
    med = {k: float(np.median(v)) for k, v in ious.items()}
    assert len(ious["68"]) >= 55
    assert med["68"] > 0.89 and med["68"] > med["mesh"] + 0.01, med


def _widened_model(tmp_path: Path, factor: float) -> Path:
    """The shipped model with every predicted point moved away from the face's centre by
    ``factor`` (in its unit frame): the face region it draws is larger."""
    m = default_model()
    pts = m.mean_out.reshape(68, 2)
    centre = pts.mean(0)
    wide = OutlineModel(points=m.points, mean_in=m.mean_in, weights=m.weights * factor,
                        mean_out=((pts - centre) * factor + centre).reshape(-1), meta={})
    path = tmp_path / "wide.npz"
    wide.save(path)
    return path


def test_parser_uses_a_given_outline_model(tmp_path, astronaut_landmarks) -> None:
    """A model fitted on the user's own annotations (``outline_model``) is the one that
    draws the face region: its 68 points, not the shipped model's."""
    path = _widened_model(tmp_path, 1.1)
    size = (512, 512)
    default = face_region(LandmarkParser().parse(np.zeros((*size, 3), np.uint8), astronaut_landmarks))
    parser = LandmarkParser(outline_model=str(path))
    region = face_region(parser.parse(np.zeros((*size, 3), np.uint8), astronaut_landmarks))
    canvas = np.zeros(size, np.uint8)
    poly = outline_from_68(OutlineModel.load(path).predict68(astronaut_landmarks))
    cv2.fillPoly(canvas, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
    iou = (region & (canvas > 0)).sum() / (region | (canvas > 0)).sum()
    assert iou > 0.99
    assert region.sum() > 1.15 * default.sum()  # (1.1 x the side: ~1.2 x the area)
    with pytest.raises(CheckpointError, match="not found"):
        LandmarkParser(outline_model=str(tmp_path / "missing.npz"))
