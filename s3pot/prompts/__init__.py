"""Contrast-driven prompts, backend-agnostic.

Every function works on feature maps ``[B, C, h, w]`` of any grid size and a token mask
``[B, h, w]`` (the face region M sampled at patch centres), so the SAM backbone and the
offline segmenter share exactly the same code.
"""

from s3pot.prompts.contrast import (
    initial_prompt,
    patch_centres,
    token_contrast,
    token_mask_at_centres,
    token_points,
)
from s3pot.prompts.matching import greedy_match, greedy_match_bruteforce, similarity_matrix
from s3pot.prompts.selection import PromptSet, pad_prompts, select_prompts

__all__ = [
    "PromptSet",
    "greedy_match",
    "greedy_match_bruteforce",
    "initial_prompt",
    "pad_prompts",
    "patch_centres",
    "select_prompts",
    "similarity_matrix",
    "token_contrast",
    "token_mask_at_centres",
    "token_points",
]
