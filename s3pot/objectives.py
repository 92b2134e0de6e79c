"""Self-supervised objectives of S³POT: no occlusion mask anywhere.

With ``p = sigmoid(tau * logits)`` read at the prompt points (tau = 10):

- :func:`positive_recall` = -mean over positives of p: visible-face points should be in the mask;
- :func:`negative_suppression` = mean over negatives of p: occlusion points should be out;
- :func:`positive_hinge` = mean over positives of max(0, margin - p), margin 0.5: every
  positive, not just the average, should cross the decision boundary.

Total = 1 * recall + 1 * suppression + 0.5 * hinge. Padding (label -1) never counts; a term
with no points of its kind is 0 (with a gradient path, so DDP sees every parameter used).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TAU = 10.0
MARGIN = 0.5
WEIGHTS = (1.0, 1.0, 0.5)


def sample_logits(
    logits: torch.Tensor, points: torch.Tensor, frame_hw: tuple[int, int]
) -> torch.Tensor:
    """Bilinear read of ``logits [B, 1, H', W']`` at ``points [B, N, 2]`` (x, y in the frame).

    ``logits`` span the same frame as the points (SAM: low-res logits over the padded 1024
    input), at any resolution; sampling follows pixel-centre conventions.
    """
    fh, fw = frame_hw
    grid = torch.stack([points[..., 0] / fw * 2 - 1, points[..., 1] / fh * 2 - 1], dim=-1)
    out = F.grid_sample(
        logits.float(), grid[:, :, None, :].to(logits.device), mode="bilinear",
        padding_mode="border", align_corners=False,
    )
    return out[:, 0, :, 0]  # [B, N]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def positive_recall(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-mean p over positives: minimising it raises the mask at visible-face points."""
    return -_masked_mean(p, labels == 1)


def negative_suppression(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean p over negatives: minimising it lowers the mask at occlusion points."""
    return _masked_mean(p, labels == 0)


def positive_hinge(p: torch.Tensor, labels: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """mean max(0, margin - p) over positives: pushes up only the positives still below margin."""
    return _masked_mean(F.relu(margin - p), labels == 1)


@dataclass
class LossTerms:
    total: torch.Tensor
    recall: torch.Tensor
    suppression: torch.Tensor
    hinge: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "recall", "suppression", "hinge")}


def s3pot_loss(
    point_logits: torch.Tensor,
    labels: torch.Tensor,
    tau: float = TAU,
    margin: float = MARGIN,
    weights: tuple[float, float, float] = WEIGHTS,
) -> LossTerms:
    """The total objective from logits at the prompt points ``[B, N]`` and labels ``[B, N]``."""
    p = torch.sigmoid(tau * point_logits)
    rec = positive_recall(p, labels)
    sup = negative_suppression(p, labels)
    hin = positive_hinge(p, labels, margin)
    total = weights[0] * rec + weights[1] * sup + weights[2] * hin
    return LossTerms(total, rec, sup, hin)
