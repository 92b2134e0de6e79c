"""s3pot.faces.remesh and the pipeline's second look for landmarks (S3potPredictor._remesh)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s3pot.faces import remesh as remesh_module
from s3pot.faces.base import FaceDetector
from s3pot.faces.remesh import outline_touch, painted_crop, remesh
from s3pot.parsing.base import face_region
from s3pot.segmenters.base import Segmenter, output_from_visible


def _disc(size: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_outline_touch_is_the_covered_share_of_the_outline() -> None:
    region = _disc(101, 50, 50, 30)
    assert outline_touch(np.zeros_like(region), region) == 0.0
    assert outline_touch(region, region) == 1.0
    left = np.zeros_like(region)
    left[:, :50] = True
    assert 0.4 < outline_touch(left, region) < 0.6
    # An occlusion inside M that does not reach its outline touches nothing.
    assert outline_touch(_disc(101, 50, 50, 20), region) == 0.0
    assert outline_touch(left, np.zeros_like(region)) == 0.0  # no M, no outline


@pytest.fixture()
def astronaut_face(predictor, astronaut):
    """The astronaut's face through the face stage, without a reference (cheap)."""
    [fr] = predictor.prepare(astronaut, reference=False)
    return fr


def _occlude(fr, occlusion: np.ndarray) -> None:
    region = face_region(fr.parsing)
    fr.occlusion = occlusion & region
    fr.visible = region & ~occlusion


def _cheek_disc(fr) -> np.ndarray:
    """A disc on the face's left cheek (aligned frame), away from the nose and eyes."""
    s = fr.aligned.shape[0]
    return _disc(s, 0.33 * s, 0.62 * s, 0.08 * s)


def test_painted_crop_fills_the_occlusion_and_keeps_the_rest(astronaut, astronaut_face) -> None:
    fr = astronaut_face
    disc = _cheek_disc(fr)
    _occlude(fr, disc)
    # Paint the occluder into the photo: pure green where the disc maps.
    photo_disc = cv2.warpAffine(disc.astype(np.uint8), fr.transform.inverse,
                                astronaut.shape[1::-1], flags=cv2.INTER_NEAREST) > 0
    photo = astronaut.copy()
    photo[photo_disc] = (0, 255, 0)

    crop, zoom, origin = painted_crop(photo, fr)
    assert crop.shape == (remesh_module.SIDE, remesh_module.SIDE, 3) and crop.dtype == np.uint8
    # crop pixel (u, v) shows photo pixel (u, v) / zoom + origin.
    side = remesh_module.SIDE
    vv, uu = np.mgrid[:side, :side]
    px = np.clip(np.round(uu / zoom + origin[0]).astype(int), 0, photo.shape[1] - 1)
    py = np.clip(np.round(vv / zoom + origin[1]).astype(int), 0, photo.shape[0] - 1)
    seen = photo[py, px]
    in_disc = photo_disc[py, px]
    near = cv2.dilate(in_disc.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    diff = np.abs(crop.astype(int) - seen.astype(int)).mean(-1)
    assert np.median(diff[~near]) < 6  # away from the occlusion: the photo, resampled
    assert in_disc.sum() > 100
    green = crop[in_disc].astype(int)
    # Inside it: filled from the skin around, no longer the occluder's green.
    assert np.mean(green[:, 1] - (green[:, 0] + green[:, 2]) / 2 > 100) < 0.05


def test_remesh_looks_again_only_when_the_mask_reaches_the_outline(astronaut, astronaut_face) -> None:
    class MustNotLook(FaceDetector):
        def detect(self, image):
            raise AssertionError("the mesh should not look again")

    fr = astronaut_face
    fr.occlusion = fr.visible = None
    assert remesh(MustNotLook(), astronaut, fr) is None  # not segmented yet
    _occlude(fr, _cheek_disc(fr))  # inside M: touches no outline
    assert remesh(MustNotLook(), astronaut, fr) is None


def test_remesh_maps_the_crops_landmarks_back_to_the_photo(astronaut, astronaut_face, detector,
                                                          monkeypatch) -> None:
    """The real mesh on the painted crop finds the face where the photo has it; of two
    faces in the crop, the one nearest the old face's centre is kept."""
    fr = astronaut_face
    s = fr.aligned.shape[0]
    lower = np.zeros((s, s), bool)
    lower[int(0.75 * s):] = True  # the chin's outline: a small painted area
    _occlude(fr, lower)
    assert outline_touch(fr.occlusion, fr.visible | fr.occlusion) > remesh_module.OUTLINE_TOUCH

    face = remesh(detector, astronaut, fr)
    assert face is not None
    old = np.asarray(fr.face.landmarks)[:, :2]
    size = float(np.ptp(old[:, 0]))
    err = np.linalg.norm(face.landmarks[:, :2] - old, axis=1)
    assert np.median(err) < 0.03 * size

    class TwoFaces(FaceDetector):
        def detect(self, image):
            raise AssertionError("landmarks_once is the call")

        def landmarks_once(self, image):
            [real] = detector.landmarks_once(image)
            return [real[:, :2] * 0.3, real[:, :2]]  # a small face in the corner, first

    again = remesh(TwoFaces(), astronaut, fr)
    np.testing.assert_allclose(again.landmarks, face.landmarks, atol=1e-6)


class LowerHalfOccluded(Segmenter):
    """Calls the lower half of M occluded: a mask that covers the jaw's outline."""

    def segment(self, face):
        s = face.aligned.shape[0]
        visible = np.ones((s, s), np.float32)
        visible[s // 2:] = 0
        return output_from_visible(visible, face.parsing)


class ScaledMesh(FaceDetector):
    """The real detector, whose second look returns the face scaled about its centre."""

    def __init__(self, inner: FaceDetector, factor: float) -> None:
        self.inner, self.factor, self.calls = inner, factor, 0

    def detect(self, image):
        return self.inner.detect(image)

    def landmarks_once(self, image):
        self.calls += 1
        out = []
        for p in self.inner.landmarks_once(image):
            p = np.asarray(p, np.float64)[:, :2]
            c = p.mean(0)
            out.append(c + (p - c) * self.factor)
        return out


def _predictor(detector, remesh_on: bool = True):
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    pred = S3potPredictor(PipelineConfig(align_size=256, occluders="none", remesh=remesh_on),
                          detector=detector)
    pred._segmenter = LowerHalfOccluded()
    return pred


def _spread(landmarks: np.ndarray) -> float:
    return float(np.ptp(np.asarray(landmarks)[:, 0]))


def test_pipeline_keeps_new_landmarks_that_give_a_larger_face(astronaut, detector,
                                                               astronaut_landmarks) -> None:
    from s3pot.pipeline import REMESHED

    spreads = {}
    for factor in (1.2, 1.3):
        mesh = ScaledMesh(detector, factor)
        pred = _predictor(mesh)
        result = pred.segment(astronaut)
        [fr] = result.faces
        assert mesh.calls == 1  # once: the remeshed face is not looked at again
        assert fr.extras.get(REMESHED) is True
        assert fr is pred._faces[0]  # replaced in place
        spreads[factor] = _spread(fr.face.landmarks)
        # The new face's stages ran: its frame, parsing, reference and masks belong together.
        np.testing.assert_allclose(fr.landmarks_aligned, fr.transform.to_aligned(fr.face.landmarks))
        assert fr.reference is not None and fr.reference.shape == fr.aligned.shape
        region = face_region(fr.parsing) & fr.extras["valid"]
        np.testing.assert_array_equal(fr.visible | fr.occlusion, region)
    # The landmarks are the second look's, mapped back to the photo (same crop both times).
    assert spreads[1.3] / spreads[1.2] == pytest.approx(1.3 / 1.2, rel=0.01)
    assert spreads[1.2] > 1.1 * _spread(astronaut_landmarks)
    # The photo's masks are pasted from the new face: a larger M than without the remesh.
    before = _predictor(detector, remesh_on=False).segment(astronaut)
    assert result.face_region.sum() > 1.2 * before.face_region.sum()


def test_pipeline_keeps_the_first_landmarks_when_the_new_face_is_smaller(astronaut, detector,
                                                                         astronaut_landmarks) -> None:
    from s3pot.pipeline import REMESHED

    mesh = ScaledMesh(detector, 0.8)
    [fr] = _predictor(mesh).segment(astronaut).faces
    assert mesh.calls == 1
    assert REMESHED not in fr.extras
    np.testing.assert_allclose(fr.face.landmarks, astronaut_landmarks)


def test_pipeline_without_remesh_does_not_look_again(astronaut, detector) -> None:
    mesh = ScaledMesh(detector, 1.2)
    pred = _predictor(mesh, remesh_on=False)
    pred.set_image(astronaut)
    pred.predict()
    assert mesh.calls == 0


def test_pipeline_does_not_look_again_under_a_detected_hand(astronaut, detector) -> None:
    """A face with an occluder hint keeps its landmarks: the hint already places the
    occluder (the hand composites lost occluder IoU when those faces were remeshed)."""
    mesh = ScaledMesh(detector, 1.2)
    pred = _predictor(mesh)
    pred.set_image(astronaut)
    [fr] = pred._faces
    fr.occluder_hint = np.zeros(fr.parsing.shape, np.float32)
    fr.occluder_hint[: fr.parsing.shape[0] // 4] = 1.0
    pred.predict()
    assert mesh.calls == 0
    # ... while the same face without the hint is looked at again.
    pred.set_image(astronaut)
    pred.predict()
    assert mesh.calls == 1
