"""RLE JSON export, paste back to the photo frame, and the pictures made from results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s3pot.export import POLARITY, face_occlusion_in_photo, result_to_json, rle_decode, rle_encode
from s3pot.faces.align import ffhq_quad, transform_from_quad
from s3pot.faces.base import alignment_points
from s3pot.parsing.base import face_region
from s3pot.parsing.landmarks import parse_landmarks
from s3pot.paste import paste_references, photo_masks
from s3pot.render import overlay, parsing_in_photo
from s3pot.types import Face, FaceResult, PhotoResult


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (240, 321)])
def test_rle_round_trip(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for mask in (np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) > 0.7):
        rle = rle_encode(mask)
        assert rle["size"] == list(shape) and isinstance(rle["counts"], str)
        rle = json.loads(json.dumps(rle))  # survives JSON
        np.testing.assert_array_equal(rle_decode(rle), mask)


def _face_result(landmarks: np.ndarray, size: int, occluded_rows: slice) -> FaceResult:
    t = transform_from_quad(ffhq_quad(*alignment_points(landmarks)), size)
    lm = t.to_aligned(landmarks)
    parsing = parse_landmarks(lm, size)
    region = face_region(parsing)
    prob = np.zeros((size, size), np.float32)
    prob[occluded_rows] = 1.0
    prob = np.where(region, prob, 0).astype(np.float32)
    x0, y0 = landmarks.min(0)
    x1, y1 = landmarks.max(0)
    fr = FaceResult(face=Face(box=np.array([x0, y0, x1, y1]), landmarks=landmarks, score=1.0),
                    transform=t, aligned=np.zeros((size, size, 3), np.uint8),
                    landmarks_aligned=lm, parsing=parsing)
    fr.occlusion_prob = prob
    fr.occlusion = region & (prob >= 0.5)
    fr.visible = region & (prob < 0.5)
    fr.reference = np.full((size, size, 3), 200, np.uint8)
    return fr


@pytest.fixture(scope="module")
def two_face_result(astronaut_landmarks) -> tuple[PhotoResult, np.ndarray]:
    """Two faces in a 300 x 600 photo; the lower half of the first one's crop is occluded."""
    shape = (300, 600)
    lm0 = astronaut_landmarks - (100, 0)
    lm1 = astronaut_landmarks * 0.8 + (300, 40)
    faces = [_face_result(lm0, 256, slice(150, 256)), _face_result(lm1, 512, slice(0, 0))]
    masks = photo_masks(faces, shape)
    return PhotoResult(image_shape=shape, faces=faces, **masks), np.full((*shape, 3), 90, np.uint8)


def test_photo_masks_polarity(two_face_result) -> None:
    result, _ = two_face_result
    occ, vis, region = result.occlusion, result.visible, result.face_region
    assert occ.shape == vis.shape == region.shape == result.image_shape
    assert occ.any() and vis.any()
    assert not (occ & vis).any()
    assert not (occ & ~region).any() and not (vis & ~region).any()
    # Occlusion and visible face partition the face region: no pixel is in neither.
    assert np.array_equal(occ | vis, region)
    # The occluded part is the lower part of the first face only.
    ys, xs = np.nonzero(occ)
    assert xs.max() < 300
    first = result.faces[0].transform.to_photo_mask(face_region(result.faces[0].parsing), occ.shape)
    assert occ.sum() < first.sum()


def test_photo_masks_visible_face_only_for_segmented_faces(two_face_result) -> None:
    result, _ = two_face_result
    first, second = result.faces
    unsegmented = FaceResult(face=second.face, transform=second.transform, aligned=second.aligned,
                             landmarks_aligned=second.landmarks_aligned, parsing=second.parsing)
    masks = photo_masks([first, unsegmented], result.image_shape)
    own = first.transform.to_photo_mask(face_region(first.parsing), result.image_shape)
    assert masks["visible"].any() and not (masks["visible"] & ~own).any()
    assert np.array_equal(masks["face_region"], result.face_region)


def test_photo_masks_take_face_patches_computed_beforehand(two_face_result) -> None:
    """The pipeline pastes a face back as soon as it is segmented: the union built from
    those patches (some faces given, others computed there) equals the one computed whole."""
    import dataclasses

    from s3pot.paste import face_patches

    result, photo = two_face_result
    # Copies: photo_masks records each face's photo mask in its extras.
    faces = [dataclasses.replace(f, extras={}) for f in result.faces]
    shape = result.image_shape
    whole = photo_masks(faces, shape, photo)
    given = [face_patches(faces[0], shape, photo), None]
    assert given[0][2].any()  # the first face's occlusion patch
    parts = photo_masks(faces, shape, photo, given)
    for key in ("occlusion", "visible", "face_region"):
        np.testing.assert_array_equal(parts[key], whole[key])
    # A patch list that does not match the faces is an error, not a silent partial union.
    with pytest.raises(ValueError, match="1 face patches for 2 faces"):
        photo_masks(faces, shape, photo, given[:1])


def test_json_document_decodes_back_to_each_face_mask(two_face_result) -> None:
    result, _ = two_face_result
    doc = json.loads(json.dumps(result_to_json(result, "photo.jpg")))
    assert doc["polarity"] == POLARITY
    assert "occlusion: 1 =" in doc["polarity"] and "covered" in doc["polarity"]
    assert (doc["width"], doc["height"]) == (600, 300) and doc["image"] == "photo.jpg"
    assert len(doc["faces"]) == 2
    union = np.zeros(result.image_shape, bool)
    for i, entry in enumerate(doc["faces"]):
        assert set(entry) >= {"box", "score", "landmarks", "occlusion_rle", "occluded_fraction"}
        assert len(entry["box"]) == 4 and len(entry["landmarks"]) == 478
        mask = rle_decode(entry["occlusion_rle"])
        assert mask.shape == result.image_shape
        np.testing.assert_array_equal(mask, face_occlusion_in_photo(result, i))
        union |= mask
    assert doc["faces"][0]["occluded_fraction"] > 0.1
    assert doc["faces"][1]["occluded_fraction"] == 0.0
    # Per-face masks agree with the photo's union mask.
    assert (union ^ result.occlusion).sum() <= 0.01 * result.occlusion.sum()
    assert "landmarks" not in result_to_json(result, "x", with_landmarks=False)["faces"][0]


def test_pictures_have_the_photo_size(two_face_result) -> None:
    result, photo = two_face_result
    over = overlay(photo, result.occlusion, result.faces, result.face_region)
    assert over.shape == photo.shape and over.dtype == np.uint8
    assert (over[result.occlusion] != photo[result.occlusion]).any(axis=1).all()
    parsed = parsing_in_photo(photo, result.faces)
    assert parsed.shape == photo.shape
    assert (parsed[result.face_region] != photo[result.face_region]).any(axis=1).mean() > 0.95
    pasted = paste_references(photo, result.faces)
    assert pasted.shape == photo.shape and pasted.dtype == np.uint8
    # The reference (value 200) replaces the face inside M; far from any face nothing changes.
    assert np.abs(pasted[result.face_region].astype(int) - 200).mean() < 20
    np.testing.assert_array_equal(pasted[:, -20:], photo[:, -20:])


@pytest.mark.parametrize("side", [1024, 2048])
def test_occlusion_edges_are_refined_on_the_photo(side: int) -> None:
    """A large face decoded on a coarse grid: the soft map's edge is 12 (24) photo px off
    the photo's own edge. With the photo, the pasted mask's edge lands on the photo's edge
    (at 2048 px through the downscaled refinement); without it, where the soft map put it.
    Per-face export and union agree either way."""
    from s3pot.faces.align import AlignTransform
    from s3pot.parsing.base import CLASS_ID

    size, k = 256, side // 1024
    edge, off = 600 * k, 12 * k
    t = AlignTransform(matrix=np.array([[size / side, 0, 0], [0, size / side, 0]]), size=size)
    rng = np.random.default_rng(0)
    photo = np.full((side, side, 3), 70.0)
    photo[:, edge:] = 190.0  # the occluder's edge in the photo
    photo = np.clip(photo + rng.normal(0, 5, photo.shape), 0, 255).astype(np.uint8)
    x = (np.arange(size) + 0.5) * side / size - 0.5  # photo x of each aligned column
    ramp = np.clip((x - (edge + off)) / (40 * k) + 0.5, 0, 1).astype(np.float32)  # a coarse edge
    fr = FaceResult(face=Face(box=np.array([0, 0, side - 1, side - 1]), landmarks=np.zeros((478, 2)),
                              score=1.0),
                    transform=t, aligned=np.zeros((size, size, 3), np.uint8),
                    landmarks_aligned=np.zeros((478, 2)),
                    parsing=np.full((size, size), CLASS_ID["skin"], np.uint8))
    fr.occlusion_prob = np.repeat(ramp[None], size, 0)
    rows = slice(100, side - 100)
    for image, expected in ((photo, edge), (None, edge + off)):
        masks = photo_masks([fr], (side, side), image)
        crossing = np.argmax(masks["occlusion"][rows], axis=1)
        assert np.all(np.abs(crossing - expected) <= 2 * k), (image is None, np.unique(crossing))
        result = PhotoResult(image_shape=(side, side), faces=[fr], **masks)
        np.testing.assert_array_equal(face_occlusion_in_photo(result, 0), masks["occlusion"])


def _square_face(side: int, size: int = 256) -> FaceResult:
    """A face result whose aligned crop is the whole ``side`` x ``side`` photo, all skin."""
    from s3pot.faces.align import AlignTransform
    from s3pot.parsing.base import CLASS_ID

    t = AlignTransform(matrix=np.array([[size / side, 0, 0], [0, size / side, 0]]), size=size)
    return FaceResult(face=Face(box=np.array([0, 0, side - 1, side - 1]), landmarks=np.zeros((478, 2)),
                                score=1.0),
                      transform=t, aligned=np.zeros((size, size, 3), np.uint8),
                      landmarks_aligned=np.zeros((478, 2)),
                      parsing=np.full((size, size), CLASS_ID["skin"], np.uint8))


def test_refinement_covers_only_the_occlusion_and_skips_clean_faces(monkeypatch) -> None:
    """The guided filter runs over the box of the pixels near an occlusion (plus its
    reach), and gives the same mask there as a refinement of the whole face box; a face
    whose soft map stays low everywhere is not refined at all and has no occlusion."""
    import s3pot.paste as paste

    side = 480
    rng = np.random.default_rng(1)
    photo = np.full((side, side, 3), 80.0)
    yy, xx = np.mgrid[:side, :side]
    disc = (yy - 120) ** 2 + (xx - 130) ** 2 < 60**2  # the occluder, in the photo
    photo[disc] = 200.0
    photo = np.clip(photo + rng.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    fr = _square_face(side)
    a = (np.arange(256) + 0.5) * side / 256 - 0.5
    d = np.hypot(a[:, None] - 120, a[None, :] - 130)
    fr.occlusion_prob = np.clip((66 - d) / 20 + 0.5, 0, 1).astype(np.float32)  # 6 px off the edge

    shapes = []
    real_filter = paste.guided_filter

    def spy(guide, src, *args, **kwargs):
        shapes.append(src.shape)
        return real_filter(guide, src, *args, **kwargs)

    monkeypatch.setattr(paste, "guided_filter", spy)
    local = photo_masks([fr], (side, side), photo)["occlusion"]
    assert len(shapes) == 1 and shapes[0][0] * shapes[0][1] < 0.5 * side * side
    monkeypatch.setattr(paste, "REFINE_NEAR", -1.0)  # every pixel a candidate: the whole box
    whole = photo_masks([fr], (side, side), photo)["occlusion"]
    assert shapes[1] == (side, side)
    assert abs(int(local.sum()) - int(disc.sum())) < 0.05 * disc.sum()  # on the photo's edge
    assert (local ^ whole).sum() <= 0.002 * disc.sum()

    monkeypatch.setattr(paste, "REFINE_NEAR", 0.3)
    fr.occlusion_prob = np.clip(fr.occlusion_prob, 0, 0.25)  # a clean face's low evidence
    shapes.clear()
    assert not photo_masks([fr], (side, side), photo)["occlusion"].any()
    assert shapes == []
