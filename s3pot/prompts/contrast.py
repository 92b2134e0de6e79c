"""Token contrast between raw and reference features, and patch-centre geometry.

Tokens are the cells of a feature grid ``[h, w]`` that spans a *frame* of ``[H, W]`` pixels
(for SAM: the padded 1024 x 1024 encoder input; for a grid that covers the image exactly:
the image). A token is located at its patch *centre* ``((c + 0.5) W / w, (r + 0.5) H / h)``;
the authors' release used the patch corner, which shifts every prompt by half a patch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def patch_centres(grid_hw: tuple[int, int], frame_hw: tuple[int, int]) -> torch.Tensor:
    """``[h*w, 2]`` float (x, y) pixel centres of every token, row-major like ``flatten``."""
    h, w = grid_hw
    fh, fw = frame_hw
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * (fh / h)
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * (fw / w)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def token_points(
    indices: torch.Tensor, grid_hw: tuple[int, int], frame_hw: tuple[int, int]
) -> torch.Tensor:
    """Flat token indices ``[...]`` -> ``[..., 2]`` (x, y) patch centres in the frame."""
    h, w = grid_hw
    idx = indices.long()
    r = torch.div(idx, w, rounding_mode="floor")
    c = idx - r * w
    x = (c.float() + 0.5) * (frame_hw[1] / w)
    y = (r.float() + 0.5) * (frame_hw[0] / h)
    return torch.stack([x, y], dim=-1)


def token_mask_at_centres(
    region: np.ndarray | torch.Tensor,
    grid_hw: tuple[int, int],
    frame_hw: tuple[int, int] | None = None,
    frame_to_region: float = 1.0,
) -> torch.Tensor:
    """Sample a pixel mask ``[B, H, W]`` (or ``[H, W]``) at the patch centres -> ``[B, h, w]``.

    ``frame_hw`` is the frame the grid spans (default: the region's own size) and
    ``frame_to_region`` scales frame pixels to region pixels (SAM: aligned size / resized
    size). Centres falling outside the region (SAM's padding) are not face tokens.
    Nearest-pixel sampling: M at a centre is M of the pixel that contains it.
    """
    if not torch.is_tensor(region):
        # A numpy mask (both paths' M): the same sampling in numpy, a few small ops whose
        # torch versions cost ~0.6 ms a face on the offline path.
        return torch.from_numpy(_mask_at_centres_np(np.asarray(region), grid_hw, frame_hw,
                                                    frame_to_region))
    m = region
    if m.ndim == 2:
        m = m[None]
    m = m.bool()
    rh, rw = m.shape[-2:]
    frame_hw = frame_hw or (rh, rw)
    pts = patch_centres(grid_hw, frame_hw) * frame_to_region
    xi = torch.floor(pts[:, 0]).long()
    yi = torch.floor(pts[:, 1]).long()
    inside = (xi >= 0) & (xi < rw) & (yi >= 0) & (yi < rh)
    out = torch.zeros(m.shape[0], pts.shape[0], dtype=torch.bool, device=m.device)
    out[:, inside] = m[:, yi[inside], xi[inside]]
    return out.view(m.shape[0], *grid_hw)


def _mask_at_centres_np(m: np.ndarray, grid_hw: tuple[int, int],
                        frame_hw: tuple[int, int] | None, frame_to_region: float) -> np.ndarray:
    """:func:`token_mask_at_centres` on a numpy mask, in the same float32 arithmetic as
    :func:`patch_centres` (so the same pixel is read at every centre)."""
    m = (m[None] if m.ndim == 2 else m).astype(bool, copy=False)
    rh, rw = m.shape[-2:]
    h, w = grid_hw
    fh, fw = frame_hw or (rh, rw)
    ys = (np.arange(h, dtype=np.float32) + np.float32(0.5)) * np.float32(fh / h)
    xs = (np.arange(w, dtype=np.float32) + np.float32(0.5)) * np.float32(fw / w)
    f = np.float32(frame_to_region)
    yi = np.floor(ys * f).astype(np.int64)
    xi = np.floor(xs * f).astype(np.int64)
    ok_y, ok_x = (yi >= 0) & (yi < rh), (xi >= 0) & (xi < rw)
    out = m[:, np.clip(yi, 0, rh - 1)][:, :, np.clip(xi, 0, rw - 1)]
    return out & ok_y[None, :, None] & ok_x[None, None, :]


def token_contrast(
    e_i: torch.Tensor, e_r: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """Cosine similarity of raw vs reference features per token ``[B, h, w]``.

    High = raw and reference agree (visible face). Tokens outside M are ``-inf`` so that no
    argmax or ranking can ever pick a non-face token.
    """
    cos = F.cosine_similarity(e_i.float(), e_r.float(), dim=1, eps=1e-8)
    return cos.masked_fill(~token_mask.bool(), float("-inf"))


def initial_prompt(contrast: torch.Tensor) -> torch.Tensor:
    """Flat index ``[B]`` of the most similar face token: the surest visible location p0."""
    flat = contrast.flatten(1)
    if not torch.isfinite(flat).any(dim=1).all():
        raise ValueError("no face token in the face region M: cannot place the initial prompt")
    return flat.argmax(dim=1)
