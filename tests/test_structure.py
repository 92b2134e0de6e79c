"""Missing structure: flat where clean faces show features is evidence of an occluder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED

from s3pot.segmenters.evidence import EvidencePrior, fit_prior
from s3pot.segmenters.structure import (
    INVERTED_OCCLUDED_MIN,
    INVERTED_VISIBLE_MAX,
    STRUCTURE_FLOOR,
    feature_agreement,
    looks_inverted,
    missing_structure,
    structure_map,
)

FEATURES = [(40, 44), (40, 84), (70, 64), (94, 64)]  # eyes, nose, mouth of a 128-px "face"


def _toy_face(rng: np.random.Generator, contrast: float = 1.0, level: float = 150.0) -> np.ndarray:
    """A mid-tone 128-px crop with mild skin noise, four dark features and textured hair
    over the top third (the face's strongest structure, as in real crops)."""
    img = np.full((128, 128), level, np.float32) + rng.normal(0, 1, (128, 128))
    img[16:30] += rng.normal(0, 25 * contrast, (14, 128))
    img[16:30] = cv2.GaussianBlur(img[16:30], (0, 0), 1.0)
    for y, x in FEATURES:
        dy, dx = rng.integers(-1, 2, 2)
        cv2.circle(img, (int(x + dx), int(y + dy)), 5, level - 70 * contrast, -1, cv2.LINE_AA)
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, 2)


REGION = np.zeros((128, 128), bool)
REGION[16:120, 16:112] = True


def test_structure_map_ignores_exposure_and_contrast() -> None:
    rng = np.random.default_rng(0)
    face = _toy_face(rng)
    dim = np.clip(face.astype(np.float32) * 0.5 + 20, 0, 255).astype(np.uint8)
    a, b = structure_map(face, REGION), structure_map(dim, REGION)
    y, x = FEATURES[0]
    assert a[y, x + 5] > 3 * np.median(a[REGION])  # the feature's edge stands out
    assert abs(a[y, x + 5] - b[y, x + 5]) < 0.25 * a[y, x + 5]


def _toy_level(rng: np.random.Generator, tmp_path) -> np.ndarray:
    """The structure level of an evidence prior fitted on 30 toy clean faces (saved and
    loaded back, as the segmenter reads it)."""
    clean = [_toy_face(rng, contrast=rng.uniform(0.7, 1.3)) for _ in range(30)]
    prior = fit_prior([(np.zeros((128, 128), np.float32),) * 2 for _ in clean],
                      [structure_map(f, REGION) for f in clean])
    prior.save(tmp_path / "prior.npz")
    return EvidencePrior.load(tmp_path / "prior.npz").structure_level(128)


def test_a_flat_patch_over_the_features_is_evidence_and_a_cheek_is_not(tmp_path) -> None:
    rng = np.random.default_rng(1)
    level = _toy_level(rng, tmp_path)
    assert level is not None and level[64, 30] < STRUCTURE_FLOOR  # flat in every face: a cheek
    yy, xx = np.mgrid[:128, :128]

    def around(y: int, x: int) -> np.ndarray:
        return (yy - y) ** 2 + (xx - x) ** 2 <= 8**2

    face = _toy_face(rng)
    clean_ev = missing_structure(face, REGION, level)  # a clean face shows its features
    assert clean_ev[REGION].mean() < 0.03 and all(clean_ev[around(*f)].mean() < 0.2 for f in FEATURES)
    covered = face.copy()
    covered[30:52, 30:100] = 120  # a flat band over both eyes
    ev = missing_structure(covered, REGION, level)
    assert ev[around(40, 44)].mean() > 0.4 and ev[around(40, 84)].mean() > 0.4
    assert ev[around(94, 64)].mean() < 0.2  # the visible mouth is still a mouth
    assert ev[64, 30] == 0.0 and ev[~REGION].max() == 0.0


def test_a_prior_without_structure_loads_and_turns_the_cue_off(tmp_path) -> None:
    prior = fit_prior([(np.zeros((64, 64), np.float32),) * 2] * 3)
    assert prior.structure is None
    path = tmp_path / "old.npz"
    prior.save(path)
    back = EvidencePrior.load(path)
    assert back.structure is None and back.structure_level(128) is None


@pytest.fixture(scope="module")
def astronaut_band(astronaut, astronaut_landmarks):
    """The astronaut with a flat brown band over both eyes, and that band as ground truth."""
    photo, lm = astronaut, astronaut_landmarks
    eyes = lm[[33, 263]]
    cx, cy = eyes.mean(0).astype(int)
    half = int(np.linalg.norm(eyes[1] - eyes[0]))
    band = photo.copy()
    cv2.rectangle(band, (cx - half, cy - 14), (cx + half, cy + 14), (120, 100, 90), -1)
    gt = np.zeros(photo.shape[:2], bool)
    gt[cy - 14:cy + 15, cx - half:cx + half + 1] = True
    return band, gt


def test_a_flat_band_over_the_eyes_is_found_through_the_missing_structure(astronaut_band,
                                                                         detector) -> None:
    """Brown like her brows and lashes, the band half passes for face under the reference
    contrast and the colour models; the eyes it hides have no structure left."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    photo, gt = astronaut_band
    ious = []
    for kwargs in ({"w_structure": 0.0}, {}):
        result = S3potPredictor(PipelineConfig(backbone_kwargs=kwargs), detector=detector).segment(photo)
        g = gt & result.face_region
        ious.append((result.occlusion & g).sum() / (result.occlusion | g).sum())
    assert ious[0] < 0.6, "premise: without the cue the band is half missed"
    assert ious[1] > 0.75


def test_a_mask_with_face_and_occluder_swapped_is_recognised(tmp_path) -> None:
    """A flat patch of face tone over the right half: the mask that flags the patch is
    right, the one that flags the rest of the face (with its eye, nose and mouth) is the
    wrong way round; small masks and a textured occluder over visible features are not."""
    rng = np.random.default_rng(2)
    level = _toy_level(rng, tmp_path)
    face = _toy_face(rng)
    patch = np.zeros((128, 128), bool)
    patch[30:110, 66:112] = True
    covered = face.copy()
    covered[patch] = 150
    s = structure_map(covered, REGION)
    right, wrong = patch & REGION, REGION & ~patch
    a_right, n_right = feature_agreement(s, level, right)
    a_wrong, n_wrong = feature_agreement(s, level, wrong)
    assert n_right > 0 and n_wrong > 0  # the patch hides an eye and half the nose and mouth
    assert a_right < INVERTED_VISIBLE_MAX and a_wrong >= INVERTED_OCCLUDED_MIN
    assert not looks_inverted(right, REGION, s, level)
    assert looks_inverted(wrong, REGION, s, level)
    small = wrong & (np.arange(128)[:, None] > 88)  # under a quarter of the region
    assert not looks_inverted(small, REGION, s, level)
    # A textured occluder (strong structure) over the right half, the rest of the face as
    # it is: the mask on the occluder is right, and is left alone.
    textured = face.copy()
    textured[patch] = np.clip(150 + rng.normal(0, 40, (int(patch.sum()), 1)), 0, 255).astype(np.uint8)
    st = structure_map(textured, REGION)
    assert not looks_inverted(right, REGION, st, level)


def test_the_segmenter_reads_a_mask_judged_inverted_the_other_way_round(astronaut_band, detector,
                                                                       monkeypatch) -> None:
    """Wiring: when the check says inverted, the face's mask is the rest of its region
    (here with a generator that cannot refit, so that mask stands)."""
    import s3pot.segmenters.offline as offline
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    photo, _ = astronaut_band
    pred = S3potPredictor(PipelineConfig(), detector=detector)
    plain = pred.segment(photo).faces[0]
    monkeypatch.setattr(offline, "looks_inverted", lambda *a, **k: True)
    monkeypatch.setattr(pred.generator, "refit", lambda *a, **k: None)
    flipped = pred.segment(photo).faces[0]
    rest = plain.visible  # the face region less the band's mask
    iou = (flipped.occlusion & rest).sum() / (flipped.occlusion | rest).sum()
    assert plain.occlusion.any() and iou > 0.9
    assert not (flipped.occlusion & plain.occlusion).any()


def test_an_inverted_mask_gets_a_refitted_reference_and_one_more_look(astronaut_band, detector,
                                                                     monkeypatch) -> None:
    """The pipeline refits the reference without the turned-round mask, once, and the
    face is segmented on it without a second check."""
    import s3pot.segmenters.offline as offline
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.segmenters.base import REFITTED

    photo, _ = astronaut_band
    pred = S3potPredictor(PipelineConfig(), detector=detector)
    plain = pred.segment(photo).faces[0]
    checks, refits = [], []
    monkeypatch.setattr(offline, "looks_inverted", lambda *a, **k: checks.append(1) or True)
    refit = pred.generator.refit

    def spy(aligned, landmarks, parsing, exclude):
        refits.append(exclude.copy())
        return refit(aligned, landmarks, parsing, exclude)

    monkeypatch.setattr(pred.generator, "refit", spy)
    face = pred.segment(photo).faces[0]
    assert len(checks) == 1 and len(refits) == 1 and face.extras[REFITTED]
    assert refits[0].dtype == np.float32 and refits[0].shape == face.occlusion.shape
    left_out = refits[0] > 0.5  # the turned-round mask: the face less the band's mask
    assert (left_out & plain.visible).sum() / (left_out | plain.visible).sum() > 0.9


BENCH = SHARED / "data" / "bench"
# Dev bench composites whose face model explained the occluder (another face's skin over
# a third to a half of the face) and flagged the visible face instead.
INVERTED_CASES = ("d0078", "d0293")


@pytest.mark.parametrize("name", INVERTED_CASES)
def test_an_occluder_that_won_the_face_fit_is_still_found(name, detector) -> None:
    from s3pot.image_io import load_image
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    if not (BENCH / "images" / f"{name}.png").is_file():
        pytest.skip(f"developers' bench not found at {BENCH} (../shared is absent)")
    photo = load_image(BENCH / "images" / f"{name}.png")
    gt = load_image(BENCH / "masks" / f"{name}.png")[..., 0] > 127
    ious = []
    # The check alone: the lower-face gate (OfflineParams.w_teach_lower) is off in both runs.
    # Both composites cover the mouth with another face's skin; the gate opens on them and
    # the default configuration scores 0.17 / 0.43 (the trade recorded at w_teach_lower).
    for kwargs in ({"inversion_check": False, "w_teach_lower": 0.0}, {"w_teach_lower": 0.0}):
        occ = S3potPredictor(PipelineConfig(backbone_kwargs=kwargs), detector=detector).segment(photo).occlusion
        ious.append((occ & gt).sum() / (occ | gt).sum())
    assert ious[0] < 0.1, "premise: without the check the visible face is flagged"
    assert ious[1] > 0.5


def test_a_face_with_an_occluder_hint_is_never_turned_round(astronaut_band, detector,
                                                           monkeypatch) -> None:
    """A detected hand is flagged whatever the score says: not the contrast's mistake to undo."""
    import s3pot.segmenters.offline as offline
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.segmenters.base import INVERTED

    photo, _ = astronaut_band
    pred = S3potPredictor(PipelineConfig(occluders="none"), detector=detector)
    face = pred.prepare(photo)[0]
    monkeypatch.setattr(offline, "looks_inverted", lambda *a, **k: True)
    assert pred.segmenter.segment(face).extras[INVERTED]
    size = face.aligned.shape[0]
    hint = np.zeros((size, size), np.float32)
    hint[int(0.6 * size):int(0.8 * size), int(0.3 * size):int(0.7 * size)] = 1.0
    face.occluder_hint = hint
    out = pred.segmenter.segment(face)
    assert not out.extras[INVERTED]
    assert out.occlusion[int(0.65 * size):int(0.75 * size), int(0.4 * size):int(0.6 * size)].mean() > 0.9


def test_lower_face_is_the_region_below_the_nose_bridge():
    from s3pot.segmenters.structure import lower_face

    region = np.zeros((10, 10), bool)
    region[2:9, 3:7] = True
    low = lower_face(region, 5.2)
    assert low[6:9, 3:7].all() and not low[:6].any() and not (low & ~region).any()


def test_lower_face_missing_tells_a_flat_mouth_from_one_showing_its_lip_line():
    from s3pot.segmenters.structure import LOWER_FACE_MISSING, lower_face_missing

    # Structure maps are relative to their median over the face region (1 on plain skin).
    region = np.ones((20, 20), bool)
    level = np.full((20, 20), 0.1, np.float32)
    level[14, 5:15] = 1.0  # the lip line: every clean face shows structure there
    lower = np.zeros((20, 20), bool)
    lower[10:, :] = True
    shown = np.full((20, 20), 1.0, np.float32)
    shown[14, 5:15] = 1.2
    flat = shown.copy()
    flat[10:, :] = 0.2  # the same face under a flat mask
    assert not lower_face_missing(shown, level, region, lower)
    assert lower_face_missing(flat, level, region, lower)
    # An occluder's strong edges elsewhere (sunglasses) do not make the lip line look flat:
    # the median, not an upper percentile, sets the scale.
    glasses = shown.copy()
    glasses[3:7, :] = 6.0
    assert not lower_face_missing(glasses, level, region, lower)
    # Half the lip line flat (a finger across it): agreement (1.2 + 0.2) / 2 = 0.7 (capped
    # terms averaged over the feature pixels).
    half = shown.copy()
    half[14, 10:15] = 0.2
    assert lower_face_missing(half, level, region, lower) == (0.7 < LOWER_FACE_MISSING)
    # No feature pixels in the lower face (a face cut off at the nose): nothing is said.
    assert not lower_face_missing(flat, level, region, lower & (np.arange(20)[:, None] > 15))
