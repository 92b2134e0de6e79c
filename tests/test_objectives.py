"""The three self-supervised terms, each pushing the mask the right way."""

from __future__ import annotations

import pytest
import torch

from s3pot.objectives import (
    negative_suppression,
    positive_hinge,
    positive_recall,
    s3pot_loss,
    sample_logits,
)

LABELS = torch.tensor([[1, 1, 0, 0, -1]])


def _grad(fn, logits):
    x = logits.clone().requires_grad_(True)
    fn(torch.sigmoid(10 * x), LABELS).backward()
    return x.grad[0]


def test_recall_raises_positives_only():
    g = _grad(positive_recall, torch.zeros(1, 5))
    assert (g[:2] < 0).all()  # gradient descent increases positive logits
    assert (g[2:] == 0).all()


def test_suppression_lowers_negatives_only():
    g = _grad(negative_suppression, torch.zeros(1, 5))
    assert (g[2:4] > 0).all()  # gradient descent decreases negative logits
    assert g[0] == 0 and g[1] == 0 and g[4] == 0


def test_hinge_acts_only_on_positives_below_margin():
    logits = torch.tensor([[-0.2, 0.5, -0.2, 0.0, 0.0]])  # p(0.5) = sigmoid(5) > margin
    g = _grad(positive_hinge, logits)
    assert g[0] < 0 and g[1] == 0 and (g[2:] == 0).all()
    p = torch.sigmoid(10 * logits)
    assert torch.isclose(positive_hinge(p, LABELS), (0.5 - p[0, 0]) / 2)


def test_total_is_weighted_sum_and_padding_never_counts():
    torch.manual_seed(0)
    logits = torch.randn(1, 5)
    t = s3pot_loss(logits, LABELS)
    assert torch.isclose(t.total, t.recall + t.suppression + 0.5 * t.hinge)
    logits2 = logits.clone()
    logits2[0, 4] = 100.0  # a padded point's value is irrelevant
    assert torch.isclose(s3pot_loss(logits2, LABELS).total, t.total)
    p = torch.sigmoid(10 * logits)
    assert torch.isclose(t.recall, -p[0, :2].mean())
    assert torch.isclose(t.suppression, p[0, 2:4].mean())


def test_missing_kind_gives_zero_term_with_gradient():
    x = torch.zeros(1, 2, requires_grad=True)
    t = s3pot_loss(x, torch.tensor([[1, 1]]))
    assert t.suppression.item() == 0.0
    t.total.backward()
    assert x.grad is not None


def test_minimising_moves_mask_towards_labels():
    logits = torch.zeros(1, 5, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        s3pot_loss(logits, LABELS).total.backward()
        opt.step()
    assert (logits[0, :2] > 0).all() and (logits[0, 2:4] < 0).all()


@pytest.mark.parametrize("size", [4, 7])
def test_sample_logits_reads_pixel_centres_exactly(size):
    logits = torch.arange(size * size, dtype=torch.float32).view(1, 1, size, size)
    # Frame twice the logits' resolution: pixel (r, c) of the logits covers frame
    # [2c, 2c+2) x [2r, 2r+2); its centre is (2c+1, 2r+1).
    pts = torch.tensor([[[1.0, 1.0], [2 * (size - 1) + 1.0, 3.0]]])
    out = sample_logits(logits, pts, (2 * size, 2 * size))
    assert out.tolist() == [[0.0, float(size + size - 1)]]
