"""The offline default segmenter: shared prompt code, image-following edges, real results."""

from __future__ import annotations

import numpy as np
import pytest

from s3pot.decode.guided import guided_refine
from s3pot.parsing.base import face_region


def test_guided_refine_moves_a_blurry_edge_onto_the_image_edge():
    # Image: dark left half, bright right half, edge at x = 40. Soft mask: a ramp centred at
    # x = 34 (6 px off). After refinement the 0.5 crossing must sit on the image edge.
    h, w = 64, 80
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 40:] = 220
    x = np.arange(w, dtype=np.float32)
    soft = np.clip((x - 34) / 16 + 0.5, 0, 1)[None].repeat(h, 0)
    out = guided_refine(img, soft, radius=8, eps=1e-4)
    crossing = np.argmax(out[h // 2] >= 0.5)
    assert abs(crossing - 40) <= 1
    assert abs(np.argmax(soft[h // 2] >= 0.5) - 40) >= 5  # the input really was off


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
    clean = predictor.segment(data.astronaut())
    fp = clean.occlusion.sum() / clean.face_region.sum()
    assert fp < 0.05


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
