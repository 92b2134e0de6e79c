"""S³POT on the real Segment Anything Model.

Per face (aligned frame): encode raw and reference in one batched SAM encoder call; token
contrast inside M -> initial positive point p0; SAM's decoder with p0 on both embeddings,
read its attended image tokens -> enhanced features F_I, F_R; greedy matching -> positive
and negative points; prompt encoder -> screening network -> decoder on the raw embedding ->
visible-face logits. Occlusion is M and not visible (see :mod:`s3pot.segmenters.base`).

Without a trained screening network (``screening=None``) a freshly initialised one with
a fixed seed is used and a warning says so: the masks are then those of an untrained
model; per-image fitting (``fit_steps > 0``) or ``s3pot train`` are the ways out. We do
not silently bypass the network: its output is part of what the decoder was trained with.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from s3pot.backbone.sam import SamBackbone
from s3pot.objectives import LossTerms, s3pot_loss, sample_logits
from s3pot.parsing.base import face_region
from s3pot.prompts.contrast import (
    initial_prompt,
    token_contrast,
    token_mask_at_centres,
    token_points,
)
from s3pot.prompts.selection import PAD_LABEL, pad_prompts, select_prompts
from s3pot.screening import ScreeningNetwork, fresh_screening, load_screening, untrained_warning
from s3pot.segmenters.base import SegmentationOutput, Segmenter, output_from_visible
from s3pot.types import FaceResult

FIT_PATIENCE = 5
FIT_MIN_DELTA = 1e-4
SEED = 0


@dataclass
class PairPrompts:
    """What one (raw, reference, parsing) triple gives before any trained part: cacheable."""

    e_i: torch.Tensor  # [C, h, w] raw embedding
    e_r: torch.Tensor  # [C, h, w] reference embedding
    token_mask: torch.Tensor  # [h, w] bool, M at patch centres
    contrast: torch.Tensor  # [h, w] cosine raw vs reference, -inf outside M
    p0: int  # flat token index of the initial prompt (-1 when M has no token)
    coords: torch.Tensor  # [N, 2] prompt points, encoder frame
    labels: torch.Tensor  # [N] 1 positive (visible face), 0 negative (occlusion)
    image_hw: tuple[int, int]  # aligned size

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def pair_prompts(
    backbone: SamBackbone,
    aligned: np.ndarray,
    reference: np.ndarray,
    parsing: np.ndarray,
    threshold: float | None = None,
    top_k: int | None = None,
    occluder: np.ndarray | None = None,
) -> PairPrompts:
    """Feature enhancement and prompt selection for one face (frozen SAM only).

    ``occluder``: the face's occluder hint (aligned frame, see :mod:`s3pot.occluders`);
    tokens under it are occlusion prompts."""
    image_hw = tuple(aligned.shape[:2])
    emb = backbone.encode([aligned, reference])  # one batched encoder call
    e_i, e_r = emb[0:1], emb[1:2]
    grid, frame = backbone.grid_hw, backbone.frame_hw
    m = token_mask_at_centres(
        face_region(parsing), grid, frame, frame_to_region=backbone.frame_to_image(image_hw)
    ).to(emb.device)
    contrast = token_contrast(e_i, e_r, m)
    empty = torch.zeros(0, dtype=torch.long)
    if not m.any():
        return PairPrompts(emb[0], emb[1], m[0], contrast[0], -1, torch.zeros(0, 2), empty, image_hw)
    p0 = initial_prompt(contrast)  # [1]
    p0_xy = token_points(p0.cpu(), grid, frame)[:, None, :]  # [1, 1, 2]
    with torch.no_grad():
        sparse, dense = backbone.embed_points(p0_xy, torch.ones(1, 1, dtype=torch.long))
        _, f_i = backbone.decode(e_i, sparse, dense)
        _, f_r = backbone.decode(e_r, sparse, dense)
    ps = select_prompts(f_i, f_r, m, threshold=threshold, top_k=top_k)[0]
    if occluder is not None:
        under = token_mask_at_centres(np.asarray(occluder) > 0.5, grid, frame,
                                      frame_to_region=backbone.frame_to_image(image_hw))
        ps = ps.with_occluder(under[0])
    coords, labels = ps.points(frame)
    return PairPrompts(emb[0], emb[1], m[0], contrast[0], int(p0[0]), coords, labels, image_hw)


def screened_logits(
    backbone: SamBackbone,
    screening: torch.nn.Module,
    e_i: torch.Tensor,
    coords: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """Low-res visible-face logits ``[B, 1, 4h, 4w]`` for raw embeddings ``[B, C, h, w]``.

    ``coords [B, N, 2]`` / ``labels [B, N]`` padded with label -1. The screening network
    runs once on the whole batch (one call, as DDP wants); the decoder runs per image on
    that image's screened prompts plus SAM's own not-a-point token, so an image's result
    does not depend on its batch.
    """
    sparse, dense = backbone.embed_points(coords, labels)
    n = coords.shape[1]
    pad = labels.to(sparse.device) == PAD_LABEL
    screened = screening(sparse[:, :n], pad)
    out = []
    for b in range(e_i.shape[0]):
        keep = ~pad[b]
        tokens = torch.cat([screened[b][keep], sparse[b, n:]], dim=0)[None]
        logits, _ = backbone.decode(e_i[b : b + 1], tokens, dense[b : b + 1])
        out.append(logits)
    return torch.cat(out, dim=0)


def batch_loss(
    backbone: SamBackbone,
    screening: torch.nn.Module,
    e_i: torch.Tensor,
    coords: torch.Tensor,
    labels: torch.Tensor,
) -> LossTerms:
    """S³POT objective of a padded batch (see :func:`s3pot.objectives.s3pot_loss`)."""
    logits = screened_logits(backbone, screening, e_i, coords, labels)
    at_points = sample_logits(logits, coords.to(logits.device), backbone.frame_hw)
    return s3pot_loss(at_points, labels.to(logits.device))


def fit_screening(
    backbone: SamBackbone,
    pair: PairPrompts,
    steps: int,
    lr: float = 1e-3,
    patience: int = FIT_PATIENCE,
    min_delta: float = FIT_MIN_DELTA,
    seed: int = SEED,
    init: ScreeningNetwork | None = None,
) -> tuple[ScreeningNetwork, list[float]]:
    """Per-image mode: fit a fresh screening network to one pair, with early stopping.

    Stops after ``patience`` steps without an improvement of at least ``min_delta`` and
    returns the best weights seen. ``lr`` is ours (the paper gives none for this mode):
    1e-3 moves a fresh network within the 50-100 steps of the hard-case mode.
    """
    net = copy.deepcopy(init) if init is not None else fresh_screening(backbone.prompt_dim, seed=seed)
    net = net.to(backbone.device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-6)
    coords, labels = pad_prompts([(pair.coords, pair.labels)])
    e_i = pair.e_i[None].to(backbone.device)
    best, best_state, bad, history = float("inf"), copy.deepcopy(net.state_dict()), 0, []
    for _ in range(steps):
        loss = batch_loss(backbone, net, e_i, coords, labels).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        history.append(value)
        if value < best - min_delta:
            best, best_state, bad = value, copy.deepcopy(net.state_dict()), 0
        else:
            bad += 1
            if bad >= patience:
                break
    # The loss was measured before each step; evaluate the last weights too.
    with torch.no_grad():
        last = float(batch_loss(backbone, net, e_i, coords, labels).total)
    if last < best:
        best_state = copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return net.eval(), history


class SamSegmenter(Segmenter):
    """S³POT with a frozen SAM and a (trained, fresh, or per-image fitted) screening net."""

    def __init__(
        self,
        backbone: SamBackbone,
        screening: ScreeningNetwork | None = None,
        fit_steps: int = 0,
        fit_lr: float = 1e-3,
        threshold: float | None = None,
        top_k: int | None = None,
        tau: float = 10.0,
        seed: int = SEED,
    ) -> None:
        self.backbone = backbone
        self.trained = screening is not None
        if screening is None:
            screening = fresh_screening(backbone.prompt_dim, seed=seed)
            if fit_steps <= 0:
                untrained_warning(seed)
        self.screening = screening.to(backbone.device).eval()
        self.fit_steps = int(fit_steps)
        self.fit_lr = fit_lr
        self.threshold = threshold
        self.top_k = top_k
        self.tau = tau
        self.seed = seed

    def segment(self, face: FaceResult) -> SegmentationOutput:
        if face.reference is None:
            raise ValueError("the SAM segmenter needs face.reference (run the reference stage first)")
        t0 = time.perf_counter()
        pair = pair_prompts(
            self.backbone, face.aligned, face.reference, face.parsing, self.threshold, self.top_k,
            occluder=face.occluder_hint,
        )
        s = face.aligned.shape[0], face.aligned.shape[1]
        extras: dict = {"backbone": f"sam/{self.backbone.model_type}", "p0": pair.p0}
        if len(pair.labels) == 0:
            extras["note"] = "no face token in M: nothing to prompt"
            return output_from_visible(np.zeros(s, np.float32), face.parsing, **extras)
        net, history = self.screening, []
        if self.fit_steps > 0:
            # The paper's hard-case mode: a *fresh* network fitted to this pair alone.
            net, history = fit_screening(self.backbone, pair, self.fit_steps, lr=self.fit_lr, seed=self.seed)
        coords, labels = pad_prompts([(pair.coords, pair.labels)])
        with torch.no_grad():
            low = screened_logits(self.backbone, net, pair.e_i[None].to(self.backbone.device), coords, labels)
            logits = self.backbone.upsample(low, s)[0, 0]
        visible = torch.sigmoid(self.tau * logits).cpu().numpy().astype(np.float32)
        scale = self.backbone.frame_to_image(s)
        extras.update(
            prompts_xy=(pair.coords.numpy() * scale).astype(np.float32),  # aligned frame
            prompt_labels=pair.labels.numpy().astype(np.int8),  # 1 visible, 0 occlusion
            contrast=pair.contrast.cpu().numpy(),
            low_res_logits=low[0, 0].cpu().numpy(),
            fit_history=history,
            screening=(
                f"per-image fit ({len(history)} steps)" if self.fit_steps > 0
                else "trained" if self.trained else f"untrained (seed {self.seed})"
            ),
            seconds=time.perf_counter() - t0,
        )
        return output_from_visible(visible, face.parsing, **extras)


def build_sam_segmenter(
    sam_checkpoint: str,
    model_type: str | None = None,
    screening: str | None = None,
    fit_steps: int = 0,
    device: str = "cpu",
    **kwargs,
) -> SamSegmenter:
    """``build_segmenter("sam", sam_checkpoint=PATH, ...)``: loads SAM and the screening net.

    Extra keyword arguments (``fit_lr``, ``threshold``, ``top_k``, ``tau``, ``seed``) go to
    :class:`SamSegmenter`.
    """
    backbone = SamBackbone.from_checkpoint(sam_checkpoint, model_type).to(device)
    net = load_screening(screening) if screening else None
    return SamSegmenter(backbone, net, fit_steps=fit_steps, **kwargs)
