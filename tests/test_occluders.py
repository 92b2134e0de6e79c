"""Occluder hints (s3pot.occluders): hand silhouettes, the guards, the hint in both segmenters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import needs_segment_backends

from s3pot.occluders.base import Occluder, OccluderDetector, build_occluder_detector, occluder_hint
from s3pot.occluders.hands import MediapipeHands, hand_silhouette
from s3pot.parsing.base import face_region
from s3pot.prompts.selection import PromptSet

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _open_hand(wrist: tuple[float, float], scale: float = 1.0) -> np.ndarray:
    """21 landmarks of an upright open hand (mediapipe's order), wrist at ``wrist``."""
    base = np.array([
        (0, 0),  # wrist
        (-22, -10), (-38, -24), (-50, -38), (-60, -52),  # thumb
        (-14, -50), (-22, -72), (-28, -86), (-33, -98),  # index
        (0, -52), (0, -76), (0, -91), (0, -104),  # middle
        (13, -50), (20, -72), (25, -85), (30, -96),  # ring
        (25, -45), (36, -62), (43, -73), (50, -83),  # little
    ], np.float64)
    return np.asarray(wrist, np.float64) + scale * base


def test_hand_silhouette_covers_palm_and_fingers_only() -> None:
    p = _open_hand((100, 180))
    m = hand_silhouette(p, (200, 200))
    assert m.dtype == np.float32 and m.shape == (200, 200) and 0 <= m.min() and m.max() <= 1
    for i in (0, 4, 8, 12, 16, 20):  # wrist and every fingertip
        x, y = np.round(p[i]).astype(int)
        assert m[y, x] > 0.5, i
    palm_centre = np.round(p[[0, 5, 9, 13, 17]].mean(0)).astype(int)
    assert m[palm_centre[1], palm_centre[0]] > 0.9
    # Between the spread fingertips and far from the hand there is no hand.
    gap = np.round((p[8] + p[12]) / 2 + (0, -2)).astype(int)
    assert m[gap[1], gap[0]] < 0.5
    assert m[10, 10] == 0 and m[190, 190] == 0
    # A finger is about a third of the knuckle span wide.
    span = np.linalg.norm(p[5] - p[17])
    row = m[int(round(p[11][1]))] > 0.5  # across the middle finger, at its last joint
    runs = np.diff(np.concatenate([[0], row.astype(int), [0]]))
    widths = np.nonzero(runs == -1)[0] - np.nonzero(runs == 1)[0]
    x_mid = int(round(p[11][0]))
    run = [w for s, w in zip(np.nonzero(runs == 1)[0], widths, strict=True) if s <= x_mid < s + w]
    assert run and 0.2 * span < run[0] < 0.5 * span, (run, span)


def test_with_occluder_turns_covered_face_prompts_into_occlusion_prompts() -> None:
    ps = PromptSet(positive=torch.tensor([0, 1, 5, 6]), negative=torch.tensor([2, 7]),
                   match_ref=torch.arange(4), match_raw=torch.tensor([0, 1, 5, 6]),
                   match_sim=torch.ones(4), grid_hw=(3, 3))
    covered = torch.zeros(3, 3, dtype=torch.bool)
    covered[1, 2] = True  # token 5
    covered[2, 0] = True  # token 6
    got = ps.with_occluder(covered)
    assert got.positive.tolist() == [0, 1]
    assert got.negative.tolist() == [2, 5, 6, 7]
    assert ps.with_occluder(None) is ps
    assert ps.with_occluder(torch.zeros(3, 3, dtype=torch.bool)) is ps


@pytest.fixture(scope="module")
def hands() -> MediapipeHands:
    det = build_occluder_detector("hands")
    yield det
    det.close()


@pytest.fixture(scope="module")
def astronaut_face(predictor, astronaut):
    (face,) = predictor.prepare(astronaut, reference=False)
    return face


def _hand_over_mouth(face, lift: float) -> Occluder:
    """A hand in photo pixels whose palm covers the mouth; ``lift`` moves it up by that
    many face heights (0: wrist below the chin)."""
    lm = face.face.landmarks
    chin, mouth = lm[152], lm[13]
    height = np.ptp(lm[:, 1])
    scale = 0.8 * np.linalg.norm(chin - mouth) / 50
    wrist = chin + (0, 0.12 * height) - (0, lift * height)
    return Occluder("hand", _open_hand(tuple(wrist), scale), 0.99)


def test_a_hand_is_drawn_on_the_face_it_covers_and_only_from_outside(hands, astronaut_face) -> None:
    region = face_region(astronaut_face.parsing)
    over = hands.draw(_hand_over_mouth(astronaut_face, 0.0), astronaut_face)
    assert over is not None and over.shape == region.shape
    assert (over[region] > 0.5).mean() > 0.05  # it covers part of the face
    # The same hand moved up until its wrist lies inside the face: the face seen as a hand.
    assert hands.draw(_hand_over_mouth(astronaut_face, 0.45), astronaut_face) is None
    # A hand far from the face occludes nothing here.
    far = Occluder("hand", _open_hand((5, 5), 0.2), 0.99)
    assert hands.draw(far, astronaut_face) is None
    assert occluder_hint(hands, [far], astronaut_face) is None


def test_no_hand_on_the_astronaut(hands, astronaut) -> None:
    """A photo with a face and no hand: the hand graph reports none (the presence guard)."""
    assert hands.detect(astronaut) == []


class _FakeHands(OccluderDetector):
    """Reports one hand over the mouth, drawn like the real backend."""

    def __init__(self, face) -> None:
        self.real = MediapipeHands.__new__(MediapipeHands)  # draw() only, no graph
        self.occ = _hand_over_mouth(face, 0.0)

    def detect(self, image: np.ndarray) -> list[Occluder]:
        return [self.occ]

    def draw(self, occluder: Occluder, face) -> np.ndarray | None:
        return MediapipeHands.draw(self.real, occluder, face)


@needs_segment_backends
def test_the_offline_segmenter_takes_the_hint_as_occlusion(astronaut, astronaut_face) -> None:
    """The astronaut's clean face with a reported hand over her mouth: the hand's part of
    the face is occluded; without the hint the same pixels are visible."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    plain = S3potPredictor(PipelineConfig(occluders="none"))
    hinted = S3potPredictor(PipelineConfig(occluders="none"), detector=plain.detector)
    hinted._occluders = _FakeHands(astronaut_face)
    (a,) = plain.segment(astronaut).faces
    (b,) = hinted.segment(astronaut).faces
    assert a.occluder_hint is None and b.occluder_hint is not None
    under = (b.occluder_hint > 0.5) & face_region(b.parsing)
    assert under.sum() > 500
    assert b.occlusion[under].mean() > 0.8
    assert a.occlusion[under].mean() < 0.1
    # Away from the hand the hint adds no occlusion.
    away = face_region(b.parsing) & (b.occluder_hint < 0.01)
    assert (b.occlusion & ~a.occlusion)[away].mean() < 0.01


def test_the_sam_path_takes_the_hint_as_occlusion_prompts(tiny_ckpt, aligned_face) -> None:
    from s3pot.backbone.sam import SamBackbone
    from s3pot.parsing.landmarks import parse_landmarks
    from s3pot.segmenters.sam import pair_prompts

    aligned, landmarks = aligned_face
    parsing = parse_landmarks(landmarks, aligned.shape[:2])
    backbone = SamBackbone.from_checkpoint(str(tiny_ckpt))
    region = face_region(parsing)
    hint = np.zeros(region.shape, np.float32)
    hint[: region.shape[0] // 2] = 1.0  # the upper half of the crop is "a hand"
    plain = pair_prompts(backbone, aligned, aligned, parsing)
    hinted = pair_prompts(backbone, aligned, aligned, parsing, occluder=hint)
    scale = backbone.frame_to_image(aligned.shape[:2])
    upper = hinted.coords[:, 1] * scale < region.shape[0] / 2
    assert upper.any() and (hinted.labels[upper] == 0).all()
    assert len(hinted.labels) == len(plain.labels)  # the same tokens, relabelled
    assert (hinted.labels == 1).sum() <= (plain.labels == 1).sum()


@pytest.mark.data
def test_real_hands_over_faces_and_none_on_clean_bench_faces(predictor) -> None:
    """Dev frames where a hand covers part of the face get a hint; the dev bench's clean
    frames (no hand) get none."""
    from s3pot.image_io import load_image
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    faces_dir, bench = DATA / "faces", DATA / "bench"
    if not faces_dir.is_dir() or not (bench / "families.csv").exists():
        pytest.skip(f"developers' data not found at {DATA} (../shared/data)")
    pred = S3potPredictor(PipelineConfig(), detector=predictor.detector)
    for name in ("Celso_Lafer_12.jpg", "Charlie_Coles_01.jpg", "Isabelle_Huppert_30.jpg"):
        faces = pred.prepare(load_image(faces_dir / name))
        assert any(f.occluder_hint is not None and (f.occluder_hint > 0.5).sum() > 100
                   for f in faces), name
    import csv

    clean = [r["name"] for r in csv.DictReader(open(bench / "families.csv", encoding="utf-8"))
             if r["family"] == "clean"]
    assert len(clean) == 45
    hinted = [n for n in clean
              if any(f.occluder_hint is not None
                     for f in pred.prepare(load_image(bench / "images" / f"{n}.png")))]
    assert hinted == []


class _CropRecorder(OccluderDetector):
    """Records the images it is given; reports one 'hand' at the centre of every image
    smaller than ``full`` (a crop), none on the whole photo."""

    def __init__(self, full: tuple[int, int]) -> None:
        self.full = full
        self.shapes: list[tuple[int, int]] = []

    def detect(self, image):
        self.shapes.append(image.shape[:2])
        if image.shape[:2] == self.full:
            return []
        h, w = image.shape[:2]
        return [Occluder("hand", np.array([[w / 2, h / 2]]), 1.0)]

    def draw(self, occluder, face):
        p = face.transform.to_aligned(occluder.points)[0]
        size = face.aligned.shape[0]
        if not (0 <= p[0] < size and 0 <= p[1] < size):
            return None
        m = np.zeros((size, size), np.float32)
        m[int(p[1]), int(p[0])] = 1.0
        return m


def test_detect_near_looks_at_a_crop_around_the_box_and_answers_in_photo_pixels() -> None:
    from s3pot.occluders.base import needs_near_pass

    photo = np.zeros((1000, 2000, 3), np.uint8)
    det = _CropRecorder((1000, 2000))
    found = det.detect_near(photo, np.array([900.0, 400.0, 1000.0, 520.0]))
    assert det.shapes == [(360, 360)]  # 3 x the box's longer side, around its centre
    np.testing.assert_allclose(found[0].points, [[950.0, 460.0]])  # the crop's centre
    # Cut by the photo's border: the crop is clipped, the answer still in photo pixels.
    found = det.detect_near(photo, np.array([0.0, 0.0, 100.0, 100.0]))
    assert det.shapes[-1] == (200, 200)
    np.testing.assert_allclose(found[0].points, [[100.0, 100.0]])
    # Only faces small in the photo get a second look.
    assert needs_near_pass(np.array([900, 400, 1000, 520]), photo.shape)
    assert not needs_near_pass(np.array([500, 100, 1000, 600]), photo.shape)


def test_the_pipeline_looks_for_occluders_again_around_a_small_face(astronaut) -> None:
    """A face small in its photo: the occluder detector also runs on a crop around it, and
    what the crop shows reaches the face as a hint. Up to NEAR_PHOTO_SIDE the whole photo
    is looked at first (beside the face mesh), in a larger photo only the crop; a face
    that fills its frame costs the whole-photo pass alone."""
    import cv2

    from s3pot.occluders.base import NEAR_PHOTO_SIDE
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    head = np.ascontiguousarray(astronaut[20:240, 130:330])
    pred = S3potPredictor(PipelineConfig(occluders="hands"))
    for long_side, face_side in ((1200, 160), (1800, 220)):
        photo = np.full((long_side * 2 // 3, long_side, 3), 120, np.uint8)
        y0, x0 = photo.shape[0] // 3, long_side // 2 - face_side // 2
        photo[y0:y0 + face_side, x0:x0 + face_side] = cv2.resize(
            head, (face_side, face_side), interpolation=cv2.INTER_AREA)
        pred._occluders = det = _CropRecorder(photo.shape[:2])
        faces = pred.prepare(photo)
        assert len(faces) == 1
        box = faces[0].face.box
        side = max(float(box[2] - box[0]), float(box[3] - box[1]))
        crops = [s for s in det.shapes if s != photo.shape[:2]]
        assert len(crops) == 1 and abs(max(crops[0]) - 3 * side) <= 2
        whole = [s for s in det.shapes if s == photo.shape[:2]]
        assert len(whole) == (1 if long_side <= NEAR_PHOTO_SIDE else 0)
        assert faces[0].occluder_hint is not None  # the crop's 'hand' (its centre: the face)

    pred._occluders = det = _CropRecorder(head.shape[:2])
    faces = pred.prepare(head)
    assert len(faces) == 1 and det.shapes == [head.shape[:2]]
    assert faces[0].occluder_hint is None
    # A large photo whose face is large too: the whole photo, once the face is known.
    big = cv2.resize(head, (1500, 1650), interpolation=cv2.INTER_LINEAR)
    pred._occluders = det = _CropRecorder(big.shape[:2])
    faces = pred.prepare(big)
    assert len(faces) == 1 and det.shapes == [big.shape[:2]]
