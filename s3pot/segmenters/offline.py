"""Offline default segmenter: S³POT's stages with backends that need no download.

    backbone   s3pot.backbone.offline.OfflineEncoder (fixed token features, raw + reference)
    contrast   s3pot.prompts.contrast (token cosine contrast inside M, initial prompt p0)
    prompts    s3pot.prompts.selection (greedy one-to-one matching -> positives / negatives)
    screening  prompts re-weighted by their agreement with the generator's pixel evidence
    structure  s3pot.segmenters.structure (flat where clean faces show features)
    decode     s3pot.decode.colour + s3pot.decode.edges (colour models, edge snapping)
    check      s3pot.segmenters.structure.looks_inverted (face and occluder swapped?)

The contrast and prompt-selection code is the same as on the SAM path; only the encoder and
the decoder differ. Nothing here is trained on occlusion masks: the few weights below were
tuned on the dev benchmark (recorded in OfflineParams) and are documented as such.

One pass, not two: segmenting again on a reference refitted without the blocks the first
mask covers (``PCAReferenceGenerator.restore``'s cap, confidence kept) measured dev bench
occluder IoU 0.596 -> 0.600, mean IoU 0.639 -> 0.650, hands (benchmarks/hand_occluders.py)
0.41 -> 0.45, but clean false positives 1.7 % -> 2.8 % (a first-pass false positive confirms
itself) for a second generator and segmenter call per occluded face (~+50 % time). Keeping
only the first mask's components the second pass still flags (confidence from the residual
alone under the mask) cut clean false positives to 0.1-0.5 % and hands to 0.32: the refit
explains skin on skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from s3pot.backbone.offline import OfflineEncoder
from s3pot.decode.colour import colour_llr
from s3pot.decode.edges import keep_strong, snap_to_edges
from s3pot.faces.base import yaw_ratio
from s3pot.faces.topology import NOSE_BRIDGE
from s3pot.parsing.base import CLASS_ID, face_region
from s3pot.prompts.contrast import initial_prompt, token_contrast, token_mask_at_centres
from s3pot.prompts.selection import select_prompts
from s3pot.segmenters.base import (
    INVERTED,
    REFITTED,
    STAGE_MAPS,
    SegmentationOutput,
    Segmenter,
    output_from_visible,
)
from s3pot.segmenters.evidence import CONF_STEP, EvidencePrior, pixel_evidence
from s3pot.segmenters.structure import (
    looks_inverted,
    lower_face,
    lower_face_missing,
    missing_structure,
    structure_map,
)
from s3pot.threads import single_torch_thread
from s3pot.types import FaceResult


@dataclass
class OfflineParams:
    """Hyper-parameters (tuned on ../shared/data/bench, see benchmarks/offline_quality.py)."""

    grid: int = 16  # token grid over the work crop (8-px tokens at 128 px)
    work_size: int = 128  # decoding resolution (the aligned crop is resized to this)
    prior: str = ""  # evidence prior file ("" = the shipped one, "none" = no prior)
    # Evidence counts above prior_scale x (clean faces' 90th percentile). 1.4 since the
    # percentile residual scales: same pooled IoU as 1.0 on the dev bench (0.555), clean
    # FP 5.1 % -> 3.9 %, mean IoU 0.614 -> 0.600; held-out FP 1.1 % -> 0.3 %.
    prior_scale: float = 1.4
    w_confidence: float = 0.5  # weight of the generator's (1 - confidence)
    w_diff: float = 0.3  # weight of the raw-vs-reference colour distance
    w_prompts: float = 0.2  # weight of the screened prompt field
    w_colour: float = 0.25  # weight of the colour log-likelihood ratio (per nat)
    # The face colour model learns from this share of M, least suspicious pixels first: an
    # occluder the evidence half-missed (a hand, another face's skin) no longer teaches the
    # face model its colours. Against share 1.0 with w_colour 0.4 (before), with w_colour
    # 0.25: dev bench occluder IoU 0.567 -> 0.571, mean IoU 0.608 -> 0.616, clean FP 2.7 ->
    # 2.9 %; held-out identities 0.483 -> 0.498, mean IoU 0.486 -> 0.510, clean FP 0.3 %;
    # flat face masks 0.564 -> 0.551 (black 0.70 -> 0.65: the colour term spread them).
    face_colour_share: float = 0.7
    seed_power: float = 2.0  # seed weights = evidence ** power (occluder), (1-evidence) ** power (face)
    # Occluder seed mass (fraction of M) at which colour counts half. 0.02 -> 0.04 with the
    # face colour share: dev bench IoU 0.571 both, clean FP 2.9 -> 2.5 %; held-out 0.498 ->
    # 0.497, FP 0.34 -> 0.29 %.
    colour_prior: float = 0.04
    blur: float = 1.5  # smoothing of the evidence (work px)
    smoothness: float = 100.0  # edge-aware smoothing strength (fast global smoother lambda)
    colour_sigma: float = 10.0  # colour step (grey levels) that stops the smoothing
    threshold: float = 0.45  # occlusion score above this -> occluded (seeds)
    grow_threshold: float = 0.3  # seeds grow over connected pixels above this (hysteresis)
    min_blob: float = 0.004  # occluded components smaller than this fraction of M are dropped
    # The inner mouth may extend an occlusion found around it but not start one (teeth and
    # tongue are beyond the face model): real smiles lost flagged teeth (32bit.png 5.1 % ->
    # 3.5 % of the face flagged); dev bench and held-out scores unchanged.
    seed_in_mouth: bool = False
    # The model's rejection counts in proportion to the visible photo-vs-reference colour
    # step (full at this Lab distance; s3pot.segmenters.evidence.CONF_STEP, 30): dev bench
    # clean FP 2.5 % -> 1.7 % for 0.003 of occluder IoU (table in EVIDENCE_PRIOR.md).
    conf_step: float = CONF_STEP
    # Weight of the pixels outside M in the edge-aware smoothing. There is no evidence
    # outside M (no model there), yet the occluder continues past it in the same colour (a
    # microphone from below, a bar across the face, a hat): with full weight those pixels
    # pulled the score at the border down through the smoother. 1.0 -> 0.0: dev bench
    # occluder IoU 0.568 -> 0.572 (ellipses 0.499 -> 0.509), clean FP 1.7 % both; held-out
    # identities 0.495 both.
    outside_weight: float = 0.0
    # Weight of the occluder hint (a detected hand, s3pot.occluders) in the score: above the
    # seed threshold on its own, so a hand the face model explains as skin is still found;
    # the colour models and the edge snapping then fit the mask to the photo.
    w_hint: float = 0.6
    # Weight of the missing-structure evidence (s3pot.segmenters.structure: flat where
    # clean faces show features), added to the score after the colour models, which it
    # does not teach (fed to them, it taught a squinting face's eyes to the occluder model
    # and the hats fell from 0.652 to 0.633). Dev bench, prior refitted: see
    # models/EVIDENCE_PRIOR.md.
    w_structure: float = 0.8
    # The photo is median-filtered over this many work pixels before its colour distance to
    # the reference (0: not): the face model is smooth, so the pores, wrinkles and stubble
    # of a sharp face read as colour steps (dev bench d0269, a large face); a 3-px median
    # removes texture one or two pixels wide and keeps an occluder's edge. The evidence prior
    # is fitted with the same filter (EVIDENCE_PRIOR.md has the measurements).
    diff_median: int = 3
    # Compare with what clean faces turned like this one show (the prior's head-turn maps,
    # s3pot.segmenters.evidence.YAW_CENTRES) rather than with the pooled, mostly frontal
    # level: turned faces flag more of themselves. Off: the pooled level.
    yaw_prior: bool = True
    # Undo a mask that has the face and its occluder the wrong way round (the features
    # say which part is face: s3pot.segmenters.structure.looks_inverted); the pipeline then
    # refits the reference without the turned-round mask and segments once more
    # (S3potPredictor._segment_face). Dev bench occluder IoU 0.606 -> 0.629 (turned round)
    # -> 0.637 (refitted), mean IoU 0.655 -> 0.663, clean FP 1.6 % throughout (three masks
    # turned: ellipses and polygons of another face's skin over a quarter to a half of the
    # face); held-out identities (benchmarks/unseen_identities.py, half-fitted models on B)
    # 0.608 -> 0.647 -> 0.662; flat face masks 0.583 -> 0.640 -> 0.653; warm / cool / grey
    # bench 0.533 / 0.560 / 0.302 -> 0.547 / 0.580 / 0.309. No mask turned on the real
    # photos, 674 clean face frames, 20 aligned real faces or 216 hand composites.
    inversion_check: bool = True
    # The score keeps what it has above this margin through the edge snapping
    # (s3pot.decode.edges.keep_strong; 0: off), so a score over margin + threshold (1.15)
    # stays a seed however thin: a thin occluder with no colour step around it (a
    # skin-toned or soft-edged bar) was averaged away by the smoother. Off -> 0.7: dev bench occluder IoU 0.647 -> 0.648, mean IoU 0.673 ->
    # 0.679 (bars 0.459 -> 0.464, mean 0.539 -> 0.560), clean FP 1.6 -> 1.7 %; 120
    # composites of the 20 unseen aligned faces (s3pot synth -n 120 --seed 7) 0.438 ->
    # 0.439, mean 0.484 -> 0.488, clean FP 1.2 -> 1.3 % (-n 60 --seed 3: 0.473 -> 0.478,
    # clean FP 0.0 % both); hand composites
    # (benchmarks/hand_occluders.py) 0.424 -> 0.429. 0.5 and 0.6: the same IoU, FP 1.9 /
    # 1.7 % on the dev bench.
    strong_margin: float = 0.7
    # Missing lower-face features teach the occluder colour model, with this weight, when
    # the lower face as a whole lacks them (s3pot.segmenters.structure.lower_face_missing):
    # a flat occluder of a skin tone over the mouth (a beige mask, a scarf) is otherwise
    # learnt as face by the colour models, which then talk its evidence away. Gated, since
    # ungated the flat nostrils or closed eyes of a clean face taught skin to the occluder
    # model (dev bench hats 0.692 -> 0.674, two hats lost whole); the gate opened on none of
    # 657 clean faces (bench clean frames, dev frames, real photos) and on 6 of the dev
    # bench's 255 occluded composites. Where it opens the lower face also teaches the face
    # colour model nothing (``lower_face_teaches`` 0): its flat part is the occluder's,
    # whatever its tone. Both against neither: flat masks (benchmarks/mask_occluders.py)
    # 0.655 -> 0.903 (skin-toned 0.17 -> 0.87, black 0.76 -> 0.96); the same masks on 50
    # bench clean frames 0.647 -> 0.852 (beige 0.134 -> 0.809); hands
    # (benchmarks/hand_occluders.py) 0.429 -> 0.440; 120 composites of the unseen aligned
    # faces (s3pot synth -n 120 --seed 7) 0.438 -> 0.458; dev bench 0.648 -> 0.645 (face-
    # textured ellipses over the mouth 0.592 -> 0.580: d0078 0.77 -> 0.17, d0293 0.63 ->
    # 0.43, another face's skin there no longer matched by the face colours), clean FP 1.7
    # % both. The teaching alone (``lower_face_teaches`` 1): masks on bench frames 0.758
    # (beige 0.497), unseen 0.453, dev 0.648; half (0.5): 0.766, 0.453, 0.644. Weights 0.8 /
    # 2.0 (earlier gate): beige 0.443 / 0.525, unseen 0.435 at 2.0. Adding the missing
    # structure to the score itself where the gate opens: sunglasses 0.891 -> 0.881, unseen
    # 0.431; the same gate over the upper face: nothing gained.
    w_teach_lower: float = 1.2
    lower_face_teaches: float = 0.0
    # Diagnostics: keep every stage's map in the output (``extras[STAGE_MAPS]``, see
    # s3pot.segmenters.base); off in normal use, the maps are a few hundred KB per face.
    keep_maps: bool = False


class OfflineSegmenter(Segmenter):
    """Reference contrast + prompts + edge-snapped decoding; tens of milliseconds per face."""

    def __init__(self, params: OfflineParams | None = None) -> None:
        self.p = params or OfflineParams()
        self.encoder = OfflineEncoder(self.p.grid)
        self.prior = EvidencePrior.load(self.p.prior or None) if self.p.prior != "none" else None

    def segment(self, face: FaceResult) -> SegmentationOutput:
        if face.reference is None:
            raise ValueError("the offline segmenter needs a reference (run the reference stage)")
        p = self.p
        size = face.aligned.shape[0]
        ws = p.work_size
        raw = cv2.resize(face.aligned, (ws, ws), interpolation=cv2.INTER_AREA)
        ref = cv2.resize(face.reference, (ws, ws), interpolation=cv2.INTER_AREA)
        region = cv2.resize(face_region(face.parsing).astype(np.uint8), (ws, ws),
                            interpolation=cv2.INTER_NEAREST) > 0
        conf = face.confidence if face.confidence is not None else np.ones((size, size), np.float32)
        conf = cv2.resize(conf.astype(np.float32), (ws, ws), interpolation=cv2.INTER_AREA)

        # Backbone + contrast + prompts (shared with the SAM path).
        e, f = self.encoder.encode_pair(raw, ref, region)
        tmask = token_mask_at_centres(region, (p.grid, p.grid))
        if not tmask.any():
            return output_from_visible(np.ones((size, size), np.float32), face.parsing)
        hint = None
        if face.occluder_hint is not None and p.w_hint > 0:
            hint = cv2.resize(face.occluder_hint.astype(np.float32), (ws, ws),
                              interpolation=cv2.INTER_AREA)
        with single_torch_thread():  # grids of a few hundred tokens: threads only add overhead
            contrast = token_contrast(e[:1], e[1:], tmask)
            p0 = int(initial_prompt(contrast)[0])
            prompts = select_prompts(f[:1], f[1:], tmask)[0]
            if hint is not None:
                prompts = prompts.with_occluder(token_mask_at_centres(hint > 0.5, (p.grid, p.grid))[0])

        # Pixel evidence of occlusion from the generator, above what clean faces show here.
        e_conf, e_diff = pixel_evidence(raw, ref, conf, p.conf_step, int(p.diff_median))
        if self.prior is not None and p.prior_scale > 0:
            yaw = yaw_ratio(face.landmarks_aligned) if p.yaw_prior else None
            q_conf, q_diff = self.prior.level(ws, yaw)
            e_conf = _above(e_conf, p.prior_scale * q_conf)
            e_diff = _above(e_diff, p.prior_scale * q_diff)

        e_prompt = _screened_prompt_field(prompts, p0, 0.5 * (e_diff + e_conf), p.grid)

        score = p.w_confidence * e_conf + p.w_diff * e_diff + p.w_prompts * e_prompt
        maps = ({"region": region.astype(np.float32), "confidence": e_conf, "difference": e_diff,
                 "prompts": e_prompt, "contrast": score.copy()} if p.keep_maps else None)
        level = self.prior.structure_level(ws) if self.prior is not None else None
        structure = (structure_map(raw, region) if level is not None and (
            p.w_structure > 0 or p.inversion_check or p.w_teach_lower > 0) else None)
        missing = (missing_structure(raw, region, level, structure=structure)
                   if structure is not None and (p.w_structure > 0 or p.w_teach_lower > 0)
                   else None)
        if p.w_colour > 0:
            # Colour models from the contrast evidence alone: a hand's skin colours must not
            # teach the occluder model (they would read as occluder on the face elsewhere
            # and dilute the colours of another occluder), nor the face model; and under
            # the hand the colour term has no say (skin against skin: it calls it face).
            teach, not_face = score, None
            if (p.w_teach_lower > 0 and missing is not None
                    and len(face.landmarks_aligned) > NOSE_BRIDGE):
                bridge = face.landmarks_aligned[NOSE_BRIDGE, 1] * ws / size
                lower = lower_face(region, bridge)
                if lower_face_missing(structure, level, region, lower):
                    teach = score + p.w_teach_lower * missing * lower
                    if p.lower_face_teaches < 1:
                        not_face = lower * (1.0 - p.lower_face_teaches)
            colour = _colour_evidence(raw, teach, region, p, hint, not_face)
            score = score + p.w_colour * (colour if hint is None else colour * (1.0 - hint))
            if maps is not None:
                maps["colour"] = colour
        if hint is not None:
            score = score + p.w_hint * hint
        if p.w_structure > 0 and missing is not None:
            score = score + p.w_structure * missing
            if maps is not None:
                maps["structure"] = missing
        if p.blur > 0:
            score = cv2.GaussianBlur(score, (0, 0), p.blur)
        weight = None if p.outside_weight >= 1 else np.where(region, 1.0, p.outside_weight)
        snapped = snap_to_edges(raw, score, p.smoothness, p.colour_sigma, weight)
        score = keep_strong(snapped, score, p.strong_margin, region) if p.strong_margin > 0 else snapped
        if hint is not None:
            # ... and a floor after it: skin against skin may show no edge for the smoother
            # to stop at, and the hand's score must not leak away into the face around it.
            score = np.maximum(score, p.w_hint * hint)
        if maps is not None:
            maps["score"] = score.copy()
        seeds = region
        if not p.seed_in_mouth:
            # The inner mouth (teeth, tongue, a dark gap) is beyond any face model: its
            # evidence may extend an occluder found around it, never start one.
            mouth = cv2.resize((face.parsing == CLASS_ID["mouth"]).astype(np.uint8), (ws, ws),
                               interpolation=cv2.INTER_NEAREST) > 0
            seeds = region & ~mouth
        occ = _hysteresis(score, region, p.threshold, p.grow_threshold, seeds)
        occ = _drop_small(occ, p.min_blob * max(region.sum(), 1))
        # Not with a hint: a detected hand is flagged whatever the score says, and is not
        # the contrast's mistake to undo.
        inverted = (p.inversion_check and structure is not None and hint is None
                    and not face.extras.get(REFITTED)
                    and looks_inverted(occ, region, structure, level))
        if inverted:
            # The score ranked the face above its occluder: read it the other way round
            # (the pipeline then asks the generator for a fit without this mask, if it can).
            score = 1.0 - score
            occ = _drop_small(region & ~occ, p.min_blob * max(region.sum(), 1))
        # Soft output on the right side of 0.5 everywhere the cleaned mask says so (grown
        # pixels have scores below the seed threshold), graded by the score.
        soft = np.where(occ, 0.55 + 0.45 * np.clip(score, 0, 1), 0.45 * np.clip(score, 0, 1))
        occ_full = cv2.resize(soft.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
        visible_prob = 1.0 - occ_full
        out = output_from_visible(
            visible_prob, face.parsing, prompts=prompts, p0=p0, token_contrast=contrast[0].numpy()
        )
        out.extras[INVERTED] = bool(inverted)
        if maps is not None:
            maps["occluded"] = occ.astype(np.float32)
            out.extras[STAGE_MAPS] = {k: np.asarray(v, np.float32) for k, v in maps.items()}
        return out


def _colour_evidence(raw: np.ndarray, score: np.ndarray, region: np.ndarray,
                     p: OfflineParams, hint: np.ndarray | None = None,
                     not_face: np.ndarray | None = None) -> np.ndarray:
    """Colour log-likelihood ratio (occluder vs face) learnt from this face's own evidence.

    Occluder colours come from the pixels the evidence flags; face colours only from the
    ``face_colour_share`` of M the evidence suspects least, so the colours of an occluder
    the evidence half-missed are not taught to the face model. Pixels under an occluder
    hint (a detected hand) teach neither model; ``not_face`` (0-1) takes that share of a
    pixel's say in the face model away."""
    inside = region.astype(np.float32)
    if hint is not None:
        inside = inside * (1.0 - np.clip(hint, 0, 1))
    s0 = np.clip(score, 0, 1)
    face_w = inside * (1 - s0) ** p.seed_power
    if not_face is not None:
        face_w = face_w * (1.0 - not_face)
    if p.face_colour_share < 1 and region.any():
        face_w = face_w * (score <= np.quantile(score[region], p.face_colour_share))
    return colour_llr(raw, inside * s0**p.seed_power, face_w,
                      prior_mass=p.colour_prior * max(float(region.sum()), 1.0))


def _screened_prompt_field(prompts, p0: int, evidence: np.ndarray, grid: int) -> np.ndarray:
    """Screening: each prompt votes for its label, weighted by how much the pixel evidence
    under it agrees; the votes form a soft occlusion field at the evidence's resolution."""
    ev = cv2.resize(evidence, (grid, grid), interpolation=cv2.INTER_AREA).reshape(-1)
    field = np.zeros(grid * grid, np.float32)
    neg = prompts.negative.numpy()
    pos = prompts.positive.numpy()
    field[neg] = 0.5 + 0.5 * ev[neg]  # occlusion votes, stronger where evidence agrees
    field[pos] = 0.5 * ev[pos]  # visible votes
    field[p0] = 0.0  # the surest visible token
    h, w = evidence.shape
    return cv2.resize(field.reshape(grid, grid), (w, h), interpolation=cv2.INTER_LINEAR)


def _above(evidence: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Evidence in excess of ``level``, rescaled back to [0, 1]."""
    level = np.clip(level, 0.0, 0.95)
    return np.clip((evidence - level) / (1.0 - level), 0.0, 1.0)


def _hysteresis(score: np.ndarray, region: np.ndarray, high: float, low: float,
                seeds: np.ndarray | None = None) -> np.ndarray:
    """Pixels above ``low`` connected to a pixel above ``high``: occluders are contiguous,
    so weak evidence next to strong evidence is believed, isolated weak evidence is not.
    Only pixels of ``seeds`` (default: the region) can be above ``high`` for this."""
    strong = (score >= high) & (region if seeds is None else seeds)
    if low >= high:
        return strong
    weak = (score >= low) & region
    n, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels]


def _drop_small(mask: np.ndarray, min_area: float) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def build_offline_segmenter(**kwargs) -> OfflineSegmenter:
    """Registry builder: keyword arguments override :class:`OfflineParams` fields."""
    return OfflineSegmenter(OfflineParams(**kwargs))


__all__ = ["OfflineParams", "OfflineSegmenter", "build_offline_segmenter"]
