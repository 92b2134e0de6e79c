"""The offline default segmenter: shared prompt code, image-following edges, real results."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s3pot.decode.edges import snap_to_edges
from s3pot.parsing.base import face_region


@pytest.mark.parametrize("offset", [-6, -3, 2, 5])
def test_snap_moves_a_misplaced_blurry_edge_onto_the_image_edge(offset):
    # Image: dark left, bright right (noisy), edge at x = 40. Soft field: a ramp whose 0.5
    # crossing is `offset` px off. After snapping, the crossing must sit on the image edge.
    h, w = 64, 80
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3), np.float32)
    img[:, 40:] = 200
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    x = np.arange(w, dtype=np.float32)
    soft = np.clip((x - (40 + offset)) / 14 + 0.5, 0, 1)[None].repeat(h, 0)
    out = snap_to_edges(img, soft, smoothness=200, colour_sigma=10)
    rows = slice(8, h - 8)
    crossing = np.argmax(out[rows] >= 0.5, axis=1)
    assert np.all(np.abs(crossing - 40) <= 1)
    assert abs(np.argmax(soft[h // 2] >= 0.5) - 40) >= 2  # the input really was off


def test_pixels_of_weight_zero_take_values_but_give_none():
    """An occluder leaving the face region in the same colour (a microphone from below):
    its strong score inside the region must not be averaged with the no-evidence pixels
    outside. Weighted, the evidence spreads onto the weight-0 part instead."""
    rng = np.random.default_rng(1)
    img = np.full((40, 60, 3), 40, np.float32)
    img[:, 30:] = 210  # a second colour region the occluder does not reach
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    soft = np.zeros((40, 60), np.float32)
    soft[:20, :30] = 0.8  # evidence inside the region (top rows)
    region = np.zeros((40, 60), bool)
    region[:20] = True  # rows 20+ lie outside the region: no evidence there
    plain = snap_to_edges(img, soft, smoothness=100, colour_sigma=10)
    weighted = snap_to_edges(img, soft, 100, 10, weight=region.astype(np.float32))
    occluder = (slice(2, 18), slice(2, 28))
    assert plain[occluder].min() < 0.55  # pulled down by the zeros outside the region
    assert weighted[occluder].min() > 0.78
    assert weighted[30:, 2:28].mean() > 0.7  # the occluder's colour outside gets its value
    assert np.abs(weighted[:20, 32:]).max() < 0.05  # the other colour region stays clean
    # Weight everywhere 1 is the plain smoother.
    np.testing.assert_allclose(snap_to_edges(img, soft, 100, 10, weight=np.ones((40, 60))), plain,
                               atol=1e-4)


@pytest.fixture(scope="module")
def occluded_astronaut():
    from s3pot.cli.demo import demo_photo

    return demo_photo()


@pytest.fixture(scope="module")
def predictor():
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    return S3potPredictor(PipelineConfig())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_finds_a_pasted_occluder_and_leaves_the_clean_face(predictor, occluded_astronaut):
    from skimage import data

    photo, alpha = occluded_astronaut
    result = predictor.segment(photo)
    assert len(result.faces) == 1
    gt = (alpha > 0.5) & result.face_region
    assert gt.sum() > 500
    assert _iou(result.occlusion, gt) > 0.6
    # The unoccluded astronaut: nothing covers her skin, but her fringe covers the top of
    # her forehead and hair counts as an occluder (s3pot's definition). Skin-coloured
    # pixels (close to the median colour of her face below the eyes) must stay unflagged,
    # and what is flagged is hair above the brows, not a blotch on the face.
    clean_photo = data.astronaut()
    clean = predictor.segment(clean_photo)
    region, occ = clean.face_region, clean.occlusion
    lm = clean.faces[0].face.landmarks
    lab = cv2.cvtColor(clean_photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    below_eyes = np.zeros_like(region)
    below_eyes[int(lm[[33, 263], 1].mean()) + 10:] = True
    skin_colour = np.median(lab[region & below_eyes], axis=0)
    skin = region & (np.linalg.norm(lab - skin_colour, axis=2) < 25)
    assert skin.sum() > 0.3 * region.sum()
    assert (occ & skin).sum() / skin.sum() < 0.02
    assert occ.sum() / region.sum() < 0.2
    brow_y = int(lm[[105, 334], 1].mean())
    assert occ[:brow_y].sum() >= 0.8 * occ.sum()


def test_prompts_come_from_the_shared_selection_code(predictor, occluded_astronaut):
    from s3pot.prompts.selection import PromptSet

    photo, _ = occluded_astronaut
    result = predictor.segment(photo)
    face = result.faces[0]
    prompts = face.extras["prompts"]
    assert isinstance(prompts, PromptSet)
    pos, neg = set(prompts.positive.tolist()), set(prompts.negative.tolist())
    assert pos and neg and not pos & neg
    # Together they are exactly the face tokens of the grid.
    import cv2

    from s3pot.prompts.contrast import token_mask_at_centres

    g = prompts.grid_hw[0]
    region = face_region(face.parsing)
    ws = predictor.segmenter.p.work_size
    small = cv2.resize(region.astype(np.uint8), (ws, ws), interpolation=cv2.INTER_NEAREST) > 0
    tokens = set(np.flatnonzero(token_mask_at_centres(small, (g, g))[0].numpy()).tolist())
    assert pos | neg == tokens
    # Masks respect the polarity contract: occlusion and visible partition M.
    m = face_region(face.parsing) & face.extras.get("valid", True)
    assert not (face.occlusion & face.visible).any()
    assert ((face.occlusion | face.visible) == m).all()



def test_per_face_masks_agree_with_the_photo_mask(predictor, occluded_astronaut):
    from s3pot.export import face_occlusion_in_photo

    photo, _ = occluded_astronaut
    result = predictor.segment(photo)
    face = result.faces[0]
    per_face = face_occlusion_in_photo(result, 0)
    assert per_face.sum() > 500
    assert (per_face == result.occlusion).mean() > 0.999
    # The aligned-frame mask and its soft map say the same thing.
    assert ((face.occlusion_prob > 0.5) == face.occlusion).all()


def test_the_inner_mouth_extends_an_occlusion_but_does_not_start_one() -> None:
    """Teeth alone (strong evidence only inside the mouth) are not an occluder; a hand over
    the mouth and the skin around it is, mouth included."""
    from s3pot.segmenters.offline import _hysteresis

    region = np.zeros((64, 64), bool)
    region[8:56, 8:56] = True
    mouth = np.zeros_like(region)
    mouth[40:46, 24:40] = True
    seeds = region & ~mouth
    teeth = np.where(mouth, 0.9, 0.05).astype(np.float32)
    assert not _hysteresis(teeth, region, 0.45, 0.3, seeds).any()
    assert _hysteresis(teeth, region, 0.45, 0.3).any()  # as a seed region it would start one
    hand = teeth.copy()
    hand[36:52, 18:46] = 0.8  # covers the mouth and the skin around it
    occ = _hysteresis(hand, region, 0.45, 0.3, seeds)
    assert occ[mouth].all() and occ[36:52, 18:46].all()


def test_colours_of_a_half_missed_occluder_are_not_learnt_as_face() -> None:
    """Evidence flags half of a patch and misses the other half: the face colour model
    learns only from the least suspicious share of M, so the missed half's colour reads as
    occluder; learning from all of M (share 1) it reads as face."""
    from s3pot.segmenters.offline import OfflineParams, _colour_evidence

    rng = np.random.default_rng(0)
    raw = np.empty((64, 64, 3), np.uint8)
    raw[:] = (200, 150, 120)  # face skin
    raw[20:44, 10:54] = (120, 150, 200)  # the occluder, 1/3 of the image
    raw = np.clip(raw + rng.normal(0, 3, raw.shape), 0, 255).astype(np.uint8)
    region = np.ones((64, 64), bool)
    score = np.full((64, 64), 0.1, np.float32)
    score[20:44, 10:32] = 0.8  # flagged half
    score[20:44, 32:54] = 0.2  # missed half: weak evidence
    missed = (slice(20, 44), slice(32, 54))
    llr_share = _colour_evidence(raw, score, region, OfflineParams(face_colour_share=0.7))
    llr_all = _colour_evidence(raw, score, region, OfflineParams(face_colour_share=1.0))
    assert llr_share[missed].mean() > 2.0
    assert llr_all[missed].mean() < llr_share[missed].mean() - 1.0
    assert llr_share[:16].mean() < -1.0  # the face stays face


def test_restored_references_replace_the_occluded_pixels(predictor, occluded_astronaut):
    """After segmentation, restore_references regenerates each face knowing its mask: the
    masks stay as they were, and every occluded pixel of the de-occluded photo is the
    model's face (not the input), while visible face far from the mask keeps the input."""
    from s3pot.paste import paste_references

    photo, alpha = occluded_astronaut
    result = predictor.segment(photo)
    face = result.faces[0]
    occ_before = result.occlusion.copy()
    before = face.reference.copy()
    predictor.restore_references(result)
    assert (result.occlusion == occ_before).all()
    after = face.reference
    core = cv2.erode(face.occlusion.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert core.sum() > 200
    # Under the mask: no input pixel survives, and the confidence says so.
    assert face.confidence[core].max() < 0.05
    changed = np.abs(after.astype(int) - face.aligned).sum(2) > 6
    assert changed[core].mean() > 0.9
    # Visible face away from the mask: as the first reference had it.
    far = face.visible & ~(cv2.dilate(face.occlusion.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0)
    assert far.sum() > 1000
    assert np.abs(after.astype(float) - before)[far].mean() < 3.0
    pasted = paste_references(photo, result.faces)
    assert pasted.shape == photo.shape and pasted.dtype == np.uint8


def test_a_grey_photo_is_segmented_on_luminance(predictor, occluded_astronaut, monkeypatch):
    """The demo photo in grey-scale: the face model fits its luminance (the mean face's
    chroma given to the grey texels) and the reference comes back grey. Fitted as a colour
    face, the grey face's chroma is wrong everywhere and the occluder is found at IoU ~0.37
    (~0.86 with the grey path, ~0.72 with the colour path's white balance)."""
    from skimage import data

    import s3pot.reference.pca as pca

    def grey(im: np.ndarray) -> np.ndarray:
        return np.repeat(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)

    photo, alpha = occluded_astronaut
    result = predictor.segment(grey(photo))
    assert len(result.faces) == 1
    assert np.ptp(result.faces[0].reference.astype(int), axis=2).max() == 0
    gt = (alpha > 0.5) & result.face_region
    iou = _iou(result.occlusion, gt)
    assert iou > 0.7
    clean = predictor.segment(grey(data.astronaut()))
    assert clean.occlusion.sum() / clean.face_region.sum() < 0.1
    # The colour path: the white balance then stands in, giving the grey face the mean
    # face's chroma by gains (IoU ~0.72); without it too, ~0.37.
    monkeypatch.setattr(pca, "monochrome_tint", lambda texture: None)
    balanced = predictor.segment(grey(photo))
    assert _iou(balanced.occlusion, (alpha > 0.5) & balanced.face_region) < iou - 0.05
    monkeypatch.setattr(predictor.generator, "white_balance", False)
    as_colour = predictor.segment(grey(photo))
    assert _iou(as_colour.occlusion, (alpha > 0.5) & as_colour.face_region) < iou - 0.2


def test_a_colour_cast_is_balanced_unless_the_balance_hides_skin(occluded_astronaut):
    """A warm cast over the clean demo face: balanced, less of it is flagged than without
    the balance. A cool cast over the demo photo: the cast skin leaves the skin-colour box
    and the brown occluder stays in it; a balance set by the occluder (IoU 0.13) is refused,
    and the occluder is found as in the uncast photo."""
    from skimage import data

    from s3pot.pipeline import PipelineConfig, S3potPredictor

    def cast(im: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
        return np.clip(im.astype(np.float32) * np.array(gains, np.float32), 0, 255).astype(np.uint8)

    on = S3potPredictor(PipelineConfig())
    off = S3potPredictor(PipelineConfig(generator_kwargs={"white_balance": False}))
    warm = cast(data.astronaut(), (1.3, 1.0, 0.6))
    flagged = [float(p.segment(warm).occlusion.sum() / p.segment(warm).face_region.sum()) for p in (on, off)]
    assert flagged[0] < flagged[1]
    photo, alpha = occluded_astronaut
    result = on.segment(cast(photo, (0.8, 1.0, 1.25)))
    assert _iou(result.occlusion, (alpha > 0.5) & result.face_region) > 0.9


def test_stage_maps_are_kept_only_when_asked_and_trace_the_mask(predictor, occluded_astronaut):
    """``keep_maps``: every stage's evidence comes back (benchmarks/evidence_stages.py reads
    it to find the stage where a family's evidence dies); the maps are the ones the mask
    was made from, so the pasted occluder stands out in them and the final map is the
    mask itself; without the flag nothing is kept."""
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.segmenters.base import STAGE_MAPS

    photo, alpha = occluded_astronaut
    plain = predictor.segment(photo).faces[0]
    assert STAGE_MAPS not in plain.extras
    traced = S3potPredictor(PipelineConfig(backbone_kwargs={"keep_maps": True})).segment(photo)
    face = traced.faces[0]
    maps = face.extras[STAGE_MAPS]
    ws = predictor.segmenter.p.work_size
    assert list(maps) == ["region", "confidence", "difference", "prompts", "contrast",
                          "colour", "structure", "score", "occluded"]
    assert all(m.shape == (ws, ws) and m.dtype == np.float32 for m in maps.values())
    # The same mask as without the flag (the maps are a by-product, not a change).
    assert (face.occlusion == plain.occlusion).all()
    # The pasted occluder, in the decoder's frame: its evidence is far above the face's.
    truth = face.transform.warp_image((alpha > 0.5).astype(np.uint8) * 255, cv2.INTER_LINEAR)
    truth = cv2.resize(truth, (ws, ws), interpolation=cv2.INTER_AREA) > 127
    region = maps["region"] > 0.5
    occ, vis = region & truth, region & ~truth
    assert occ.sum() > 50
    for name in ("difference", "contrast", "score"):
        assert maps[name][occ].mean() > maps[name][vis].mean() + 0.3, name
    assert maps["colour"][occ].mean() > 0 > maps["colour"][vis].mean()
    # The last map is the decoded mask at the decoder's resolution.
    small = cv2.resize(face.occlusion.astype(np.uint8), (ws, ws), interpolation=cv2.INTER_NEAREST) > 0
    assert ((maps["occluded"] > 0.5) == small).mean() > 0.97


def test_a_skin_toned_mask_over_the_mouth_is_found_by_its_missing_features():
    """A flat beige mask over the lower face: skin-coloured, so the face model and the face
    colour model take it for skin; its missing lip line and nostrils teach the occluder
    colours (OfflineParams.w_teach_lower), and the mask is found. Without that it is not
    (the case the parameter exists for); a white mask is found either way."""
    from skimage import data

    from s3pot.eval.synth.masks import MASK_COLOURS, draw_mask, mask_polygon
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    photo = data.astronaut()
    on = S3potPredictor(PipelineConfig())
    off = S3potPredictor(PipelineConfig(backbone_kwargs={"w_teach_lower": 0.0}))
    landmarks = on.segment(photo).faces[0].face.landmarks
    for colour, low_without in (("beige", True), ("white", False)):
        masked, mask = draw_mask(photo, mask_polygon(landmarks), MASK_COLOURS[colour])
        with_teach, without = on.segment(masked), off.segment(masked)
        truth = mask & with_teach.face_region
        assert truth.sum() > 2000
        assert _iou(with_teach.occlusion, truth) > 0.5, colour
        assert (_iou(without.occlusion, truth) < 0.2) == low_without, colour
