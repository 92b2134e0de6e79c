"""Face stage on real faces: one, several, EXIF-rotated, very large photos; the aligned crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXIF_STORED_ROT90, HEAD_CROP, save_with_exif_orientation, tile_faces
from PIL import Image

from s3pot.faces.base import CHIN, EYE_LEFT, EYE_RIGHT, MOUTH_LEFT, MOUTH_RIGHT, alignment_points
from s3pot.image_io import load_image


def _median_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(a - b, axis=1)))


def _interocular(lm: np.ndarray) -> float:
    el, er, _, _ = alignment_points(lm)
    return float(np.linalg.norm(er - el))


def _is_upright(lm: np.ndarray) -> bool:
    """Eyes level and above the mouth, image-left eye on the left (as in the upright photo)."""
    el, er, ml, mr = alignment_points(lm)
    eyes, mouth = (el + er) / 2, (ml + mr) / 2
    return bool(er[0] - el[0] > 2 * abs(er[1] - el[1]) and mouth[1] - eyes[1] > 0.5 * _interocular(lm))


def test_astronaut_face(astronaut, detector, astronaut_landmarks) -> None:
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.landmarks.shape == (478, 2)
    assert f.score == pytest.approx(1.0)
    x0, y0, x1, y1 = f.box
    # The astronaut's head is in HEAD_CROP; the face box lies inside it and is face-sized.
    rows, cols = HEAD_CROP
    assert cols.start <= x0 < x1 <= cols.stop and rows.start <= y0 < y1 <= rows.stop
    assert 60 < x1 - x0 < 160 and 60 < y1 - y0 < 180
    assert (f.landmarks >= f.box[:2] - 1e-6).all() and (f.landmarks <= f.box[2:] + 1e-6).all()
    assert _is_upright(f.landmarks)
    # Static-image mode: the same photo gives the same landmarks.
    np.testing.assert_allclose(f.landmarks, astronaut_landmarks, atol=1e-3)
    # Iris refinement: the 10 iris points sit inside their eye's outline.
    for iris, eye in ((range(468, 473), EYE_LEFT), (range(473, 478), EYE_RIGHT)):
        centre = f.landmarks[list(iris)].mean(0)
        other = f.landmarks[list(EYE_LEFT if eye is EYE_RIGHT else EYE_RIGHT)].mean(0)
        own = f.landmarks[list(eye)].mean(0)
        assert np.linalg.norm(centre - own) < np.linalg.norm(centre - other)


@pytest.mark.parametrize("n", [2, 3])
def test_several_faces_side_by_side(astronaut, detector, astronaut_landmarks, n: int) -> None:
    photo, offsets = tile_faces(astronaut, n)
    faces = detector.detect(photo)
    assert len(faces) == n
    rows, cols = HEAD_CROP
    single = astronaut_landmarks - (cols.start, rows.start)
    for face, dx in zip(faces, offsets, strict=True):  # faces are sorted left to right
        x0, _, x1, _ = face.box
        assert dx <= x0 < x1 <= dx + (cols.stop - cols.start)
        assert _median_error(face.landmarks, single + (dx, 0)) < 0.05 * _interocular(single)


def test_small_faces_in_a_wide_frame_use_the_detector_fallback(astronaut, detector) -> None:
    """Three faces that fill little of a wide frame: the short-range mesh alone misses them."""
    head = cv2.resize(astronaut[HEAD_CROP], None, fx=1.3, fy=1.3, interpolation=cv2.INTER_CUBIC)
    photo = np.full((600, 1500, 3), (96, 110, 124), np.uint8)
    xs = (60, 560, 1060)
    for x in xs:
        photo[600 - 20 - head.shape[0] : 580, x : x + head.shape[1]] = head
    assert detector._run(photo) == [], "premise: the mesh graph alone finds nothing here"
    faces = detector.detect(photo)
    assert len(faces) == 3
    for face, x in zip(faces, xs, strict=True):
        assert x <= face.box[0] < face.box[2] <= x + head.shape[1]
        assert _is_upright(face.landmarks)


def test_four_small_faces_in_a_group_frame(astronaut, detector) -> None:
    """Faces of ~5% of the frame width: too small for the full-range detector on the whole
    frame (it sees it at 192 px); found on tiles."""
    crop = cv2.resize(astronaut[HEAD_CROP], (176, 208), interpolation=cv2.INTER_AREA)
    photo = np.full((900, 1600, 3), (90, 110, 130), np.uint8)
    xs = (50, 450, 850, 1250)
    for x in xs:
        photo[300:508, x : x + 176] = crop
    faces = detector.detect(photo)
    assert len(faces) == 4
    for face, x in zip(faces, xs, strict=True):
        assert x <= face.box[0] < face.box[2] <= x + 176 and 300 <= face.box[1]
        assert _is_upright(face.landmarks)


def _count_calls(detector, monkeypatch) -> dict[str, int]:
    """Counts mesh runs (``low``: those with the low detection threshold) and full-range
    detector passes (whole view and tiles) of ``detector``."""
    calls = {"mesh": 0, "low": 0, "proposals": 0}
    run, proposals = detector._run, detector._proposals

    def counted_run(image: np.ndarray, low: bool = False) -> list[np.ndarray]:
        calls["mesh"] += 1
        calls["low"] += low
        return run(image, low)

    def counted_proposals(*args) -> np.ndarray:
        calls["proposals"] += 1
        return proposals(*args)

    monkeypatch.setattr(detector, "_run", counted_run)
    monkeypatch.setattr(detector, "_proposals", counted_proposals)
    return calls


def test_small_face_in_a_large_frame(astronaut, detector, astronaut_landmarks, monkeypatch) -> None:
    """A ~100 px face in a 24-Mpx frame (1.7% of its width): found on tiles, meshed on a
    full-resolution crop (in the 1280 px view it would be 20 px wide). The low-threshold
    pass on the whole view is a last resort and does not run before the crops do (it gave
    poor landmarks for small faces in group photos)."""
    side, x0, y0 = 512, 4400, 2900
    photo = np.full((4000, 6000, 3), (70, 80, 90), np.uint8)
    photo[y0 : y0 + side, x0 : x0 + side] = astronaut
    calls = _count_calls(detector, monkeypatch)
    faces = detector.detect(photo)
    assert len(faces) == 1 and calls["proposals"] == 1 and calls["low"] == 0
    expected = astronaut_landmarks + (x0, y0)
    assert _median_error(faces[0].landmarks, expected) < 0.03 * _interocular(expected)


def test_frame_filling_face_costs_one_mesh_call(astronaut, detector, monkeypatch) -> None:
    """The common case pays nothing for the small-face search: one mesh call, no detector."""
    head = np.ascontiguousarray(astronaut[HEAD_CROP])  # the face covers ~17% of the frame
    large = cv2.resize(head, None, fx=10, fy=10, interpolation=cv2.INTER_LINEAR)
    calls = _count_calls(detector, monkeypatch)
    assert len(detector.detect(head)) == 1
    assert len(detector.detect(large)) == 1
    assert calls == {"mesh": 2, "low": 0, "proposals": 0}


def test_tiles_cover_the_photo_within_budget() -> None:
    from s3pot.faces.tiles import MAX_TILES, plan_tiles

    assert plan_tiles(500, 400) == [], "a photo near the detector input needs no tiles"
    for w, h in ((1600, 900), (6000, 4000), (4000, 6000), (12000, 8000), (12000, 1500)):
        tiles = plan_tiles(w, h)
        assert 1 < len(tiles) <= MAX_TILES
        cover = np.zeros((h // 10, w // 10), bool)
        for x, y, tw, th in tiles:
            assert 0 <= x and x + tw <= w and 0 <= y and y + th <= h
            cover[y // 10 : (y + th) // 10, x // 10 : (x + tw) // 10] = True
        assert cover.all()
        # Tiles overlap by at least a quarter tile: a face that small is whole in one tile.
        side = tiles[0][2]
        face = side // 4
        for fx in range(0, w - face, max(1, w // 97)):
            assert any(x <= fx and fx + face <= x + tw for x, _, tw, _ in tiles)
    # Beside a found face, tiles only look for faces a few times smaller: fewer tiles.
    assert len(plan_tiles(6000, 4000, min_face=300)) < len(plan_tiles(6000, 4000))
    assert plan_tiles(6000, 4000, min_face=2000) == []


def test_face_cut_by_the_border(astronaut, detector, astronaut_landmarks) -> None:
    cut = np.ascontiguousarray(astronaut[:, 215:])  # the left third of the face is outside
    faces = detector.detect(cut)
    assert len(faces) == 1
    f = faces[0]
    assert 0.5 < f.score < 1.0  # some landmarks fall outside the photo
    assert f.box[0] == 0.0
    visible = astronaut_landmarks[:, 0] >= 230
    shifted = astronaut_landmarks - (215, 0)
    assert _median_error(f.landmarks[visible], shifted[visible]) < 0.1 * _interocular(shifted)


@pytest.mark.parametrize("orientation", sorted(EXIF_STORED_ROT90))
def test_exif_rotated_photo_gives_an_upright_face(tmp_path: Path, astronaut, detector,
                                                  astronaut_landmarks, orientation: int) -> None:
    path = tmp_path / f"camera{orientation}.jpg"
    save_with_exif_orientation(path, astronaut, orientation)
    image = load_image(path)
    faces = detector.detect(image)
    assert len(faces) == 1
    assert _is_upright(faces[0].landmarks)
    assert _median_error(faces[0].landmarks, astronaut_landmarks) < 0.05 * _interocular(astronaut_landmarks)
    # Without the EXIF turn the stored pixels hold no upright face.
    with Image.open(path) as raw:
        stored = np.asarray(raw.convert("RGB"))
    assert not any(_is_upright(f.landmarks) for f in detector.detect(stored))


def test_large_photo_is_detected_downscaled_and_mapped_back(astronaut, detector,
                                                            astronaut_landmarks, monkeypatch) -> None:
    side, x0, y0 = 2048, 2500, 900
    photo = np.full((4000, 6000, 3), (70, 80, 90), np.uint8)
    photo[y0 : y0 + side, x0 : x0 + side] = cv2.resize(astronaut, (side, side),
                                                       interpolation=cv2.INTER_CUBIC)
    seen: list[tuple[int, ...]] = []
    run = detector._run

    def spy(image: np.ndarray, low: bool = False) -> list[np.ndarray]:
        seen.append(image.shape)
        return run(image, low)

    monkeypatch.setattr(detector, "_run", spy)
    faces = detector.detect(photo)
    # Every mesh pass saw a downscaled view (at most the padded second-chance view).
    assert seen and all(max(s[:2]) <= 1.5 * detector.detect_max_side for s in seen)
    assert len(faces) == 1
    expected = astronaut_landmarks * (side / 512) + (x0, y0)
    # Landmarks come back in full-resolution pixels, as precise as the downscaled view allows.
    assert _median_error(faces[0].landmarks, expected) < 0.03 * _interocular(expected)
    assert faces[0].box[2] > x0 and faces[0].box[0] < x0 + side


def test_blank_and_noise_photos_have_no_face(detector) -> None:
    assert detector.detect(np.full((300, 400, 3), 200, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


@pytest.mark.parametrize("shape", [(10000, 3), (3, 10000), (1, 20000), (20000, 1)])
def test_strip_shaped_photos_have_no_face(detector, shape: tuple[int, int]) -> None:
    """A photo far longer than the detection view is wide: the downscaled view keeps at
    least a pixel each way and tiles thinner than a view pixel are skipped (a 10000 x 3
    strip used to stop the whole batch with an OpenCV assertion)."""
    assert detector.detect(np.full(shape + (3,), 128, np.uint8)) == []


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_prepare_aligns_every_face(astronaut, detector, size: int) -> None:
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    predictor = S3potPredictor(PipelineConfig(align_size=size), detector=detector)
    photo, _ = tile_faces(astronaut, 2)
    results = predictor.prepare(photo, reference=False)
    assert len(results) == 2
    for r in results:
        assert r.aligned.shape == (size, size, 3) and r.aligned.dtype == np.uint8
        assert r.parsing.shape == (size, size) and r.parsing.dtype == np.uint8
        assert r.reference is None
        np.testing.assert_allclose(r.landmarks_aligned, r.transform.to_aligned(r.face.landmarks))
        np.testing.assert_allclose(r.transform.to_photo(r.landmarks_aligned), r.face.landmarks,
                                   atol=1e-6)
        # FFHQ geometry: eyes level, centred, mouth below them, chin inside the crop.
        el, er, ml, mr = alignment_points(r.landmarks_aligned)
        assert abs(er[1] - el[1]) < 0.01 * size
        assert abs((el[0] + er[0]) / 2 - size / 2) < 0.03 * size
        assert 0.15 * size < er[0] - el[0] <= 0.25 * size + 1e-6  # crop side >= 4 eye distances
        assert (ml + mr)[1] / 2 > el[1] + 0.1 * size
        assert r.landmarks_aligned[CHIN, 1] < size
        assert r.landmarks_aligned[MOUTH_LEFT, 0] < r.landmarks_aligned[MOUTH_RIGHT, 0]
        # The aligned crop is the photo sampled through the transform.
        back = r.transform.to_photo_image(r.aligned, photo.shape)
        inside = r.transform.to_photo_mask(np.ones((size, size), bool), photo.shape)
        inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert np.abs(back[inside].astype(float) - photo[inside]).mean() < 10
        assert r.extras["valid"].shape == (size, size)


def test_prepare_rejects_non_rgb(predictor) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        predictor.prepare(np.zeros((10, 10), np.uint8), reference=False)
    with pytest.raises(ValueError, match="RGB uint8"):
        predictor.prepare(np.zeros((10, 10, 3), np.float32), reference=False)
    assert predictor.prepare(np.zeros((64, 64, 3), np.uint8), reference=False) == []


def test_masked_real_faces_are_found_by_the_low_confidence_retry() -> None:
    """Flat face masks drawn on the real aligned faces of ../shared (the mask benchmark's
    masks): the mesh graph's detector at the usual threshold loses some of them; the
    low-confidence pass that runs only when nothing was found recovers them."""
    from conftest import SHARED

    from s3pot.eval.synth.masks import MASK_COLOURS, draw_mask, mask_polygon
    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh
    from s3pot.image_io import find_images, load_image

    folder = SHARED / "data" / "real" / "aligned_512"
    if not folder.is_dir():
        pytest.skip(f"real aligned faces not present ({folder}); the ../shared data folder is absent")

    det = MediapipeFaceMesh()
    photos, _ = find_images([str(folder)])
    colours = list(MASK_COLOURS.values())
    n = plain = retried = 0
    for i, path in enumerate(photos):
        image = load_image(path)
        faces = det.detect(image)
        if not faces:
            continue
        masked, _ = draw_mask(image, mask_polygon(faces[0].landmarks), colours[i % len(colours)])
        n += 1
        plain += bool(det._run(masked))
        retried += bool(det.detect(masked))
    assert n >= 15
    assert plain <= n - 3  # the usual threshold really loses masked faces
    assert retried >= n - 1


def test_a_photo_without_a_face_tries_the_low_threshold_last(detector, monkeypatch) -> None:
    """Nothing found by the mesh, its two zoomed-out views and the detector: the mesh with
    the low threshold on the view, on both zoomed-out views and on both black-bordered
    ones, and still no face on a blank photo."""
    calls = _count_calls(detector, monkeypatch)
    assert detector.detect(np.full((300, 400, 3), 128, np.uint8)) == []
    assert calls == {"mesh": 8, "low": 5, "proposals": 1}


def _fake_face(cx: float, cy: float, r: float) -> np.ndarray:
    """478 points on a disc: enough of a landmark set for the face stage's bookkeeping."""
    rng = np.random.default_rng(0)
    a, d = rng.uniform(0, 2 * np.pi, 478), r * np.sqrt(rng.uniform(0, 1, 478))
    return np.stack([cx + d * np.cos(a), cy + d * np.sin(a)], 1)


def test_last_resort_faces_must_show_skin_and_black_borders_are_tried(detector, monkeypatch) -> None:
    """The low-threshold mesh 'finds' a face only on views with a black border (the
    replicated ones show none): the black-bordered view is tried and its landmarks map back
    to the photo. That face is kept on a skin-coloured photo and dropped on a grey one of
    the same layout (a texture the low threshold mistook for a face)."""
    import s3pot.faces.mediapipe_mesh as mesh_module

    def run(image: np.ndarray, low: bool = False) -> list[np.ndarray]:
        h, w = image.shape[:2]
        black_frame = image[0, 0].max() == 0 and image[h // 2, 0].max() == 0
        if not (low and black_frame):
            return []
        pad = round(w * 0.25 / 1.5)  # the quarter-side view of a 400 x 400 photo
        return [_fake_face(pad + 200, pad + 200, 120)]

    monkeypatch.setattr(detector, "_run", run)
    monkeypatch.setattr(detector, "_proposals", lambda *a: np.zeros((0, 4)))
    skin = np.zeros((400, 400, 3), np.uint8)
    skin[:] = (200, 150, 120)  # r 0.43, g 0.32 of the sum: a skin chromaticity
    (face,) = detector.detect(skin)
    np.testing.assert_allclose(face.landmarks.mean(0), (200, 200), atol=15)
    assert mesh_module.skin_share(skin, face.landmarks) == 1.0
    grey = np.full((400, 400, 3), 150, np.uint8)
    assert mesh_module.skin_share(grey, face.landmarks) == 0.0
    assert detector.detect(grey) == []


def test_a_frame_filling_face_under_a_large_disc_is_found_zoomed_out(
        astronaut, detector, astronaut_landmarks, monkeypatch) -> None:
    """The astronaut's face cropped to fill the frame, a disc over 40 % of its side on the
    middle of the face: neither the view nor the quarter-side padded view (edges
    replicated) shows the mesh graph a face; the half-side zoomed-out view does, with
    landmarks on the face (and so does the black-bordered quarter-side view)."""
    import s3pot.faces.mediapipe_mesh as mesh_module

    (x0, y0), (x1, y1) = astronaut_landmarks.min(0), astronaut_landmarks.max(0)
    crop = astronaut[int(y0):int(y1), int(x0):int(x1)]
    photo = cv2.resize(crop, (512, 512), interpolation=cv2.INTER_LINEAR)
    cv2.circle(photo, (256, 256), 205, (230, 60, 220), -1, cv2.LINE_AA)
    monkeypatch.setattr(mesh_module, "PAD_FRACTIONS", mesh_module.PAD_FRACTIONS[:1])
    monkeypatch.setattr(mesh_module, "LAST_RESORT_BORDERS", ("replicate",))
    assert detector.detect(photo) == [], "premise: without the half-side view, no face"
    monkeypatch.undo()
    (face,) = detector.detect(photo)
    # The disc hides eyes, nose and mouth: the mesh only has to land on the face (its box
    # over most of the real face's, its centre on it), not to be as precise as on a visible face.
    bx0, by0, bx1, by1 = face.box
    overlap = max(0.0, min(bx1, 512) - max(bx0, 0)) * max(0.0, min(by1, 512) - max(by0, 0))
    assert overlap / (512 * 512) > 0.4
    cx, cy = face.landmarks.mean(0)
    assert 128 < cx < 384 and 128 < cy < 420


@pytest.mark.skipif(not Path("/proc/self/fd/2").exists(), reason="needs /proc to read fd 2")
def test_quiet_windows_from_two_threads_leave_stderr_as_it_was() -> None:
    """The hand graph's thread and the face graphs open quiet windows at the same time: fd 2
    stays quiet until the last window closes and is the original stream afterwards (it used
    to be left on /dev/null when the windows closed out of order)."""
    import os
    import threading

    from s3pot.faces.mediapipe_mesh import quiet_native_logs

    def target() -> str:
        return os.readlink("/proc/self/fd/2")

    before = target()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def a() -> None:
        with quiet_native_logs(first=True):
            a_in.set()
            b_in.wait(5)
        seen["after_a"] = target()
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with quiet_native_logs(first=True):
            b_in.set()
            a_out.wait(5)
            seen["b_inside"] = target()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after_a"] == os.devnull  # b's window is still open
    assert seen["b_inside"] == os.devnull
    assert target() == before


def _one_large_two_small_faces(astronaut: np.ndarray) -> np.ndarray:
    """A frame whose mesh pass finds only the large face (it covers ~6 % of the frame, so
    the detector then looks for more) and two half-size faces the detector finds."""
    photo = np.full((1000, 1600, 3), (90, 110, 130), np.uint8)
    head = astronaut[HEAD_CROP]
    photo[300:690, 700:1030] = cv2.resize(head, (330, 390), interpolation=cv2.INTER_AREA)
    small = cv2.resize(head, (176, 208), interpolation=cv2.INTER_AREA)
    photo[100:308, 100:276] = small
    photo[650:858, 1300:1476] = small
    return photo


def test_detect_first_hands_the_search_for_smaller_faces_to_the_caller(astronaut, detector,
                                                                       monkeypatch) -> None:
    from s3pot.faces.base import by_position

    photo = _one_large_two_small_faces(astronaut)
    calls = _count_calls(detector, monkeypatch)
    first, rest = detector.detect_first(photo)
    assert len(first) == 1 and 700 <= first[0].box[0] and first[0].box[2] <= 1030
    assert rest is not None and calls["proposals"] == 0  # nothing searched yet
    more = rest()
    assert calls["proposals"] == 1 and len(more) == 2
    assert sorted(int(f.box[0]) // 100 for f in more) == [1, 13]
    whole = detector.detect(photo)
    assert [f.box.tolist() for f in whole] == [f.box.tolist() for f in by_position(first + more)]
    assert [int(f.box[0]) // 100 for f in whole] == [1, 8, 13]  # left to right
    # A face that fills the frame ends the search at once.
    first, rest = detector.detect_first(np.ascontiguousarray(astronaut[HEAD_CROP]))
    assert len(first) == 1 and rest is None


def test_prepare_runs_the_face_search_beside_the_first_faces_in_detect_order(
        astronaut, detector) -> None:
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    photo = _one_large_two_small_faces(astronaut)
    predictor = S3potPredictor(PipelineConfig(occluders="none"), detector=detector)
    results = predictor.prepare(photo, reference=False)
    expected = detector.detect(photo)
    assert len(results) == 3
    for r, face in zip(results, expected, strict=True):
        np.testing.assert_array_equal(r.face.landmarks, face.landmarks)
    assert "faces" in predictor._threads  # the search ran on the predictor's face thread


def test_segment_makes_the_first_faces_masks_while_the_search_runs(astronaut, detector) -> None:
    """``segment`` segments and pastes back the faces found first before the search for
    more has ended, and gives what ``set_image`` + ``predict`` give."""
    import threading

    from s3pot.faces.base import FaceDetector
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    segmented: list[int] = []
    gate = threading.Event()
    seen: dict[str, int] = {}

    class GatedSearch(FaceDetector):
        """The real detector, whose search only returns once a face was segmented (or
        after 60 s, when nothing is segmented before the search ends)."""

        def detect(self, image):
            return detector.detect(image)

        def detect_first(self, image):
            first, rest = detector.detect_first(image)

            def search():
                more = rest()
                gate.wait(30)
                seen["segmented_when_search_ended"] = len(segmented)
                return more

            return first, (search if rest is not None else None)

    photo = _one_large_two_small_faces(astronaut)
    predictor = S3potPredictor(PipelineConfig(occluders="none"), detector=GatedSearch())
    inner = predictor.segmenter

    class Recording:
        def segment(self, fr):
            out = inner.segment(fr)
            segmented.append(int(fr.face.box[0]))
            gate.set()
            return out

    predictor._segmenter = Recording()
    result = predictor.segment(photo)
    assert seen["segmented_when_search_ended"] == 1  # the large face, during the search
    assert segmented[0] // 100 == 8 and len(segmented) == 3
    assert [int(fr.face.box[0]) // 100 for fr in result.faces] == [1, 8, 13]  # detect() order

    gate.set()
    predictor.set_image(photo)
    again = predictor.predict()
    for key in ("occlusion", "visible", "face_region"):
        np.testing.assert_array_equal(getattr(result, key), getattr(again, key))
    for a, b in zip(result.faces, again.faces, strict=True):
        np.testing.assert_array_equal(a.occlusion_prob, b.occlusion_prob)
