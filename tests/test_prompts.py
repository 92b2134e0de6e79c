"""Contrast, matching and prompt selection on small feature grids (backend-agnostic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s3pot.prompts import (
    greedy_match,
    greedy_match_bruteforce,
    initial_prompt,
    pad_prompts,
    patch_centres,
    select_prompts,
    similarity_matrix,
    token_contrast,
    token_mask_at_centres,
    token_points,
)


def test_patch_centres_are_centres_not_corners():
    c = patch_centres((2, 4), (32, 64))
    assert c.shape == (8, 2)
    assert c[0].tolist() == [8.0, 8.0]  # patch 16 x 16: centre at 8, 8
    assert c[5].tolist() == [24.0, 24.0]  # row 1, column 1
    assert torch.equal(token_points(torch.tensor([0, 5]), (2, 4), (32, 64)), c[[0, 5]])


def test_token_mask_samples_region_at_centres_and_excludes_padding():
    region = np.zeros((40, 40), bool)
    region[:20, :] = True  # top half
    m = token_mask_at_centres(region, (4, 4))
    assert m.shape == (1, 4, 4)
    assert m[0, :2].all() and not m[0, 2:].any()
    # The grid spans a 64-px frame (centres 8, 24, 40, 56) in which a 48-px region sits
    # unscaled: the last row and column of tokens fall in the padding.
    m2 = token_mask_at_centres(np.ones((48, 48), bool), (4, 4), (64, 64), frame_to_region=1.0)
    assert m2[0, :3, :3].all() and not m2[0, 3].any() and not m2[0, :, 3].any()
    # Same with a 24-px region whose frame was resized by 0.5 (frame px * 0.5 = region px).
    m3 = token_mask_at_centres(np.ones((24, 24), bool), (4, 4), (64, 64), frame_to_region=0.5)
    assert torch.equal(m3, m2)


@pytest.mark.parametrize("seed", range(5))
def test_token_mask_reads_the_same_pixels_from_numpy_and_torch_masks(seed):
    # numpy masks take a numpy path; it must pick exactly the pixels the torch one does,
    # for frames that do not divide into the grid and SAM-like resize factors.
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(5, 90, 2))
    region = rng.random((2, h, w)) < 0.5
    for grid in [(16, 16), (7, 11)]:
        for frame, f in [(None, 1.0), ((64, 64), h / 64), ((1024, 1024), 256 / 1024 * h / 100)]:
            a = token_mask_at_centres(region, grid, frame, f)
            b = token_mask_at_centres(torch.from_numpy(region), grid, frame, f)
            assert a.dtype == b.dtype == torch.bool and a.shape == b.shape
            assert torch.equal(a, b)
            assert torch.equal(token_mask_at_centres(region[0], grid, frame, f), b[:1])


def test_token_contrast_masks_non_face_tokens_and_p0_is_best_face_token():
    torch.manual_seed(0)
    e_i = torch.randn(1, 8, 3, 3)
    e_r = torch.randn(1, 8, 3, 3)
    e_r[0, :, 0, 0] = e_i[0, :, 0, 0]  # most similar token overall, but outside M
    e_r[0, :, 2, 1] = e_i[0, :, 2, 1] + 0.01
    mask = torch.ones(1, 3, 3, dtype=torch.bool)
    mask[0, 0, 0] = False
    c = token_contrast(e_i, e_r, mask)
    assert c[0, 0, 0] == float("-inf")
    expected = F.cosine_similarity(e_i, e_r, dim=1)
    assert torch.allclose(c[mask], expected[mask])
    assert initial_prompt(c).tolist() == [2 * 3 + 1]
    with pytest.raises(ValueError, match="no face token"):
        initial_prompt(token_contrast(e_i, e_r, torch.zeros_like(mask)))


@pytest.mark.parametrize("seed", range(8))
def test_greedy_match_equals_bruteforce(seed):
    g = torch.Generator().manual_seed(seed)
    r, c = torch.randint(1, 25, (2,), generator=g).tolist()
    dense = torch.randn(r, c, generator=g)
    tied = torch.randint(0, 4, (r, c), generator=g).float()  # many exact ties
    for sim in (dense, tied):
        for thr in (None, 0.5):
            fast = greedy_match(sim, threshold=thr)
            slow = greedy_match_bruteforce(sim, threshold=thr)
            for a, b in zip(fast, slow, strict=True):
                assert torch.equal(a.float(), b.float())


@pytest.mark.parametrize("seed", range(6))
def test_numpy_and_torch_rounds_give_the_same_pairs(seed):
    # CPU matrices take the numpy rounds, a GPU's the torch ones: the SAM path on a GPU
    # must match exactly what the offline path matches, ties and -inf included.
    from s3pot.prompts.matching import _rounds_numpy, _rounds_torch

    g = torch.Generator().manual_seed(seed)
    r, c = torch.randint(1, 60, (2,), generator=g).tolist()
    for sim in (torch.randn(r, c, generator=g), torch.randint(0, 3, (r, c), generator=g).float()):
        sim = sim.masked_fill(torch.rand(r, c, generator=g) < 0.2, float("-inf"))
        a = _rounds_torch(sim.clone())
        b = _rounds_numpy(sim.numpy().copy())
        assert len(a[0]) > 0 or torch.isinf(sim).all()
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.numpy(), y)


def test_greedy_match_is_one_to_one_and_ignores_nan():
    sim = torch.tensor([[0.9, float("nan")], [0.8, 0.1], [0.7, 0.6]])
    rows, cols, vals = greedy_match(sim)
    assert rows.tolist() == [0, 2] and cols.tolist() == [0, 1]
    assert len(set(cols.tolist())) == len(cols)
    assert torch.allclose(vals, torch.tensor([0.9, 0.6]))


def test_similarity_matrix_is_cosine_of_selected_rows():
    torch.manual_seed(1)
    f_r, f_i = torch.randn(6, 2, 3), torch.randn(6, 2, 3)
    rows = torch.tensor([1, 4])
    s = similarity_matrix(f_r, f_i, rows)
    assert s.shape == (2, 6)
    a = f_r.flatten(1)[:, 4]
    b = f_i.flatten(1)[:, 5]
    assert math.isclose(float(s[1, 5]), float(F.cosine_similarity(a, b, dim=0)), rel_tol=1e-5)


def _occluded_features(h=6, w=6, c=16, seed=0):
    """Reference = raw with a block of tokens replaced by something unlike any face token."""
    g = torch.Generator().manual_seed(seed)
    f_r = torch.randn(1, c, h, w, generator=g)
    f_i = f_r.clone()
    occl = torch.zeros(h, w, dtype=torch.bool)
    occl[2:4, 1:4] = True
    f_i[0, :, occl] = -f_r[0, :, occl] + 0.1 * torch.randn(c, int(occl.sum()), generator=g)
    mask = torch.zeros(1, h, w, dtype=torch.bool)
    mask[0, 1:5, 1:5] = True
    return f_i, f_r, mask, occl


def test_selection_positives_are_visible_face_and_negatives_the_occluder():
    f_i, f_r, mask, occl = _occluded_features()
    ps = select_prompts(f_i, f_r, mask)[0]
    pos, neg = set(ps.positive.tolist()), set(ps.negative.tolist())
    m = set(mask[0].flatten().nonzero()[:, 0].tolist())
    assert pos | neg == m and not pos & neg
    visible = set((mask[0] & ~occl).flatten().nonzero()[:, 0].tolist())
    assert pos == visible  # every visible face token finds its reference partner
    assert neg == m - visible
    coords, labels = ps.points((60, 60))
    assert coords.shape == (len(m), 2) and labels.sum() == len(pos)
    assert ((coords - 5) % 10 == 0).all()  # patch centres of a 10-px grid


def test_selection_knobs_drop_positives_to_negatives():
    f_i, f_r, mask, _ = _occluded_features()
    full = select_prompts(f_i, f_r, mask)[0]
    topk = select_prompts(f_i, f_r, mask, top_k=3)[0]
    assert len(topk.positive) == 3
    assert len(topk.positive) + len(topk.negative) == len(full.positive) + len(full.negative)
    strict = select_prompts(f_i, f_r, mask, threshold=1.01)[0]
    assert len(strict.positive) == 0


def test_pad_prompts_pads_with_not_a_point():
    a = (torch.ones(2, 2), torch.tensor([1, 0]))
    b = (torch.ones(3, 2), torch.tensor([1, 1, 0]))
    coords, labels = pad_prompts([a, b])
    assert coords.shape == (2, 3, 2)
    assert labels.tolist() == [[1, 0, -1], [1, 1, 0]]
