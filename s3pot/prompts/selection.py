"""Prompt selection: positives where the reference finds itself in the raw image.

Reference tokens inside M are matched one-to-one to raw tokens (greedy, descending
similarity of the enhanced features). A raw face token that some reference face token
claims is *visible face* (positive, label 1); a face token nobody claims is *occlusion*
(negative, label 0). Polarity follows the method: positives mark the visible face.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from s3pot.prompts.contrast import token_points
from s3pot.prompts.matching import greedy_match, similarity_matrix

# SAM's label for "not a point": padding that the prompt encoder embeds as such.
PAD_LABEL = -1


@dataclass
class PromptSet:
    """Prompts of one image, as flat token indices of its ``grid_hw`` grid."""

    positive: torch.Tensor  # [P] long, raw tokens inside M matched by a reference token
    negative: torch.Tensor  # [Q] long, the other raw tokens inside M
    match_ref: torch.Tensor  # [K] long, matched reference tokens (acceptance order)
    match_raw: torch.Tensor  # [K] long, their raw partners
    match_sim: torch.Tensor  # [K] float, similarity of each pair
    grid_hw: tuple[int, int]

    def points(self, frame_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coords [N, 2] (x, y) patch centres in the frame, labels [N])``, positives first."""
        idx = torch.cat([self.positive, self.negative])
        labels = torch.cat(
            [
                torch.ones(len(self.positive), dtype=torch.long),
                torch.zeros(len(self.negative), dtype=torch.long),
            ]
        )
        return token_points(idx.cpu(), self.grid_hw, frame_hw), labels

    def with_occluder(self, occluded: torch.Tensor | None) -> PromptSet:
        """The same prompts with every token under a known occluder (``occluded``, a bool
        token mask ``[h, w]``, e.g. a detected hand) an occlusion prompt, never a face one:
        a hand the reference explains as skin is still a hand."""
        if occluded is None:
            return self
        moved = occluded.reshape(-1).bool().to(self.positive.device)[self.positive]
        if not moved.any():
            return self
        negative = torch.cat([self.negative, self.positive[moved]]).sort().values
        return PromptSet(self.positive[~moved], negative, self.match_ref,
                         self.match_raw, self.match_sim, self.grid_hw)


def select_prompts(
    f_i: torch.Tensor,
    f_r: torch.Tensor,
    token_mask: torch.Tensor,
    threshold: float | None = None,
    top_k: int | None = None,
) -> list[PromptSet]:
    """Positive / negative prompts from enhanced features ``[B, C, h, w]`` and M ``[B, h, w]``.

    ``threshold`` (pairs below it are never matched) and ``top_k`` (keep only the k most
    similar positives) are off by default, as in the paper; tokens they drop from the
    positives become negatives, so every face token is still a prompt.
    """
    b, _, h, w = f_i.shape
    out = []
    for k in range(b):
        m = token_mask[k].reshape(-1).bool()
        rows = m.nonzero()[:, 0]
        sim = similarity_matrix(f_r[k], f_i[k], rows)
        r, c, v = greedy_match(sim, threshold=threshold)
        ref_idx, raw_idx = rows[r], c
        in_m = m[raw_idx]
        pos = raw_idx[in_m]
        if top_k is not None:
            pos = pos[:top_k]  # matches are in descending similarity
        is_pos = torch.zeros_like(m)
        is_pos[pos] = True
        neg = (m & ~is_pos).nonzero()[:, 0]
        out.append(PromptSet(pos, neg, ref_idx, raw_idx, v, (h, w)))
    return out


def pad_prompts(
    points: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-image ``(coords [N_i, 2], labels [N_i])`` to ``[B, N, 2]``, ``[B, N]``.

    Shorter sets are padded with label -1, SAM's own "not a point"; padding never counts
    as a prompt in the screening network or the objectives.
    """
    n = max((len(c) for c, _ in points), default=0)
    coords = torch.zeros(len(points), n, 2)
    labels = torch.full((len(points), n), PAD_LABEL, dtype=torch.long)
    for i, (c, lab) in enumerate(points):
        coords[i, : len(c)] = c
        labels[i, : len(lab)] = lab
    return coords, labels
