"""The official Segment Anything Model as S³POT's frozen backbone.

Loading: a plain ``state_dict`` ``.pth`` as Meta publishes it, read with
``torch.load(weights_only=True)`` (no pickled code runs). The architecture is read off the
weights themselves (embed dim, depth, heads from the relative position tables, window and
global blocks, input size from the absolute position embedding), so ``--sam-model-type``
is optional. The three official types are built with ``segment_anything``'s own
``sam_model_registry`` builders; any other shape of the same architecture (the tiny
models of our tests) is built from the same ``segment_anything.modeling`` classes.

Inference uses SAM's own preprocessing (``ResizeLongestSide``, pixel normalisation,
padding to a square) and reads the decoder's attended image tokens, the image-side output
of its two-way transformer, with a forward hook: SAM itself is never forked or patched.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import sam_model_registry
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)
from segment_anything.modeling.transformer import Attention
from segment_anything.utils.transforms import ResizeLongestSide
from torch import nn

from s3pot.checkpoints import read_torch_file
from s3pot.errors import CheckpointError


@dataclass(frozen=True)
class SamArchitecture:
    """Everything that decides the shape of a SAM model's weights."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_dim: int = 256
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8  # not visible in the weights; SAM's value
    mask_in_chans: int = 16
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256


OFFICIAL: dict[str, SamArchitecture] = {
    "vit_b": SamArchitecture(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArchitecture(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArchitecture(1280, 32, 16, (7, 15, 23, 31)),
}
CUSTOM = "custom"
# A tiny model of the same architecture (8 x 8 token grid, SAM's 256-d decoder): tests and
# smoke runs build it with random weights and save it in the official format.
TINY = SamArchitecture(32, 2, 2, (1,), img_size=128, window_size=4)
_WEIGHT_NAMES = {"vit_b": "sam_vit_b", "vit_l": "sam_vit_l", "vit_h": "sam_vit_h"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a SAM checkpoint safely; every failure is a one-line :class:`CheckpointError`."""
    p = Path(path)
    obj = read_torch_file(p, "sam_vit_b")
    if isinstance(obj, dict) and "image_encoder.patch_embed.proj.weight" not in obj:
        for key in ("model", "state_dict"):  # common wrappers of re-saved checkpoints
            inner = obj.get(key)
            if isinstance(inner, dict) and "image_encoder.patch_embed.proj.weight" in inner:
                obj = inner
                break
    if not isinstance(obj, dict) or "image_encoder.patch_embed.proj.weight" not in obj:
        raise CheckpointError(p, "not a Segment Anything checkpoint (no image_encoder weights)")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(p, "not a Segment Anything checkpoint (non-tensor entries)")
    return obj


def infer_architecture(sd: dict[str, torch.Tensor], path: object = "<state dict>") -> SamArchitecture:
    """Read the architecture off the weights (see module docstring)."""
    try:
        proj = sd["image_encoder.patch_embed.proj.weight"]
        embed_dim, patch = int(proj.shape[0]), int(proj.shape[-1])
        grid = int(sd["image_encoder.pos_embed"].shape[1])
        blocks = sorted(
            {int(m.group(1)) for k in sd if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))}
        )
        depth = len(blocks)
        head_dim = int(sd["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
        global_idx, window = [], 0
        for i in blocks:
            span = int(sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0])
            if span == 2 * grid - 1:
                global_idx.append(i)
            else:
                window = (span + 1) // 2
        if window == 0:  # every block global: any window size builds the same model
            window = grid
        prompt_dim = int(sd["mask_decoder.iou_token.weight"].shape[1])
        dec_layers = {
            int(m.group(1))
            for k in sd
            if (m := re.match(r"mask_decoder\.transformer\.layers\.(\d+)\.", k))
        }
        iou_layers = {
            int(m.group(1))
            for k in sd
            if (m := re.match(r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\.", k))
        }
        return SamArchitecture(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=embed_dim // head_dim,
            global_attn_indexes=tuple(global_idx),
            img_size=grid * patch,
            patch_size=patch,
            window_size=window,
            prompt_dim=prompt_dim,
            decoder_depth=len(dec_layers),
            decoder_mlp_dim=int(sd["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
            mask_in_chans=int(sd["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            num_multimask_outputs=int(sd["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
            iou_head_depth=len(iou_layers),
            iou_head_hidden_dim=int(sd["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        )
    except (KeyError, IndexError, ZeroDivisionError) as exc:
        raise CheckpointError(
            path, f"not a Segment Anything checkpoint (cannot read its architecture: {_first_line(exc)})"
        ) from None


def model_type_of(arch: SamArchitecture) -> str:
    """``vit_b`` / ``vit_l`` / ``vit_h`` for the official shapes, else ``custom``."""
    for name, official in OFFICIAL.items():
        if arch == official:
            return name
    return CUSTOM


def build_sam(arch: SamArchitecture) -> Sam:
    """An uninitialised-weights SAM of this architecture (official builders when official)."""
    kind = model_type_of(arch)
    if kind != CUSTOM:
        return sam_model_registry[kind]()
    grid = arch.img_size // arch.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.depth,
            embed_dim=arch.embed_dim,
            img_size=arch.img_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.num_heads,
            patch_size=arch.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=arch.global_attn_indexes,
            window_size=arch.window_size,
            out_chans=arch.prompt_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(arch.img_size, arch.img_size),
            mask_in_chans=arch.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=arch.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth,
                embedding_dim=arch.prompt_dim,
                mlp_dim=arch.decoder_mlp_dim,
                num_heads=arch.decoder_heads,
            ),
            transformer_dim=arch.prompt_dim,
            iou_head_depth=arch.iou_head_depth,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
    )
    return sam.eval()


def load_sam(path: str | Path, model_type: str | None = None) -> tuple[Sam, str]:
    """Load a SAM checkpoint: ``(model in eval mode on CPU, model type)``.

    ``model_type`` (``vit_b``, ``vit_l``, ``vit_h``; ``default`` = ``vit_h``) is checked
    against the weights when given; a mismatch is an error, not a silent misload.
    """
    if model_type == "default":
        model_type = "vit_h"
    if model_type is not None and model_type not in OFFICIAL:
        raise CheckpointError(path, f"unknown SAM model type '{model_type}' (choose vit_b, vit_l, vit_h)")
    sd = read_state_dict(path)
    arch = infer_architecture(sd, path)
    kind = model_type_of(arch)
    if model_type is not None and kind != model_type:
        found = kind if kind != CUSTOM else f"non-standard SAM (embed dim {arch.embed_dim}, depth {arch.depth})"
        raise CheckpointError(path, f"is a {found} checkpoint, not {model_type}")
    sam = build_sam(arch)
    try:
        sam.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(path, f"weights do not fit the {kind} architecture ({_first_line(exc)})") from None
    return sam.eval(), kind


def save_sam_checkpoint(sam: Sam, path: str | Path) -> None:
    """Write ``sam`` as Meta publishes it: a plain state dict (tests, conversions)."""
    torch.save(sam.state_dict(), path)


@contextmanager
def capture_attended_image_tokens(decoder: MaskDecoder) -> Iterator[dict]:
    """Record the two-way transformer's image-side output as ``store["tokens"] [B, C, h, w]``.

    A forward hook on ``decoder.transformer``: its output is ``(queries, keys)``, where
    ``keys`` are the image tokens after token<->image cross-attention, ``[B, h*w, C]``.
    """
    store: dict = {}

    def hook(module: nn.Module, inputs: tuple, output: tuple) -> None:
        b, c, h, w = inputs[0].shape  # image_embedding
        store["tokens"] = output[1].transpose(1, 2).reshape(b, c, h, w)

    handle = decoder.transformer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _fused_attention_forward(self: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SAM's decoder ``Attention.forward``, same weights and formula, one fused kernel.

    ``softmax(q k^T / sqrt(d)) v`` through ``scaled_dot_product_attention`` (whose default
    scale is SAM's ``1 / sqrt(c_per_head)``) instead of materialising the ``N x 4096``
    attention matrix. It matters here and not in SAM's own use: S³POT feeds the decoder
    every face token as a prompt (about a thousand), where the stock layer spends most of
    its time dividing and soft-maxing that matrix.
    """
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(self.v_proj(v), self.num_heads)
    out = F.scaled_dot_product_attention(q, k, v)
    return self.out_proj(self._recombine_heads(out))


@contextmanager
def fused_decoder_attention(decoder: MaskDecoder) -> Iterator[None]:
    """Run the decoder's attention layers with :func:`_fused_attention_forward`, then restore.

    Per-instance and temporary: the ``Sam`` object and the installed package are unchanged
    outside the ``with`` block (tests compare both paths).
    """
    layers = [m for m in decoder.modules() if isinstance(m, Attention)]
    for m in layers:
        m.forward = types.MethodType(_fused_attention_forward, m)
    try:
        yield
    finally:
        for m in layers:
            del m.forward


class SamBackbone(nn.Module):
    """Frozen SAM: encoder, prompt encoder and decoder, in SAM's own frames.

    Coordinates of points are in the *encoder frame* (the resized and padded
    ``img_size`` square); :meth:`to_frame` maps image pixels into it.
    """

    def __init__(self, sam: Sam, model_type: str = CUSTOM) -> None:
        super().__init__()
        self.sam = sam.eval()
        self.model_type = model_type
        for p in self.sam.parameters():
            p.requires_grad_(False)
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path, model_type: str | None = None) -> SamBackbone:
        sam, kind = load_sam(path, model_type)
        return cls(sam, kind)

    def train(self, mode: bool = True) -> SamBackbone:
        """SAM stays in eval mode whatever the caller does."""
        super().train(False)
        return self

    @property
    def device(self) -> torch.device:
        return self.sam.device

    @property
    def grid_hw(self) -> tuple[int, int]:
        return tuple(self.sam.prompt_encoder.image_embedding_size)

    @property
    def frame_hw(self) -> tuple[int, int]:
        n = self.sam.image_encoder.img_size
        return (n, n)

    @property
    def prompt_dim(self) -> int:
        return int(self.sam.prompt_encoder.embed_dim)

    def resized_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """Size of an image of ``image_hw`` inside the encoder frame (before padding)."""
        return self.transform.get_preprocess_shape(image_hw[0], image_hw[1], self.frame_hw[0])

    def frame_to_image(self, image_hw: tuple[int, int]) -> float:
        """Scale from encoder-frame pixels to image pixels."""
        return max(image_hw) / float(self.frame_hw[0])

    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB uint8 images -> ``[B, 3, S, S]``: resize longest side, normalise, pad (SAM's own)."""
        batch = []
        for image in images:
            x = torch.as_tensor(self.transform.apply_image(np.ascontiguousarray(image)), device=self.device)
            x = x.permute(2, 0, 1).contiguous()[None].float()
            batch.append(self.sam.preprocess(x))
        return torch.cat(batch, dim=0)

    @torch.no_grad()
    def encode(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Image embeddings ``[B, C, h, w]`` of all ``images`` in ONE encoder call."""
        return self.sam.image_encoder(self.preprocess(images))

    def embed_points(
        self, coords: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM's prompt encoder on points ``[B, N, 2]`` (encoder frame), labels ``[B, N]``.

        Returns ``(sparse [B, N+1, d], dense [B, d, h, w])``; the extra sparse token is
        SAM's own "not a point" padding (added whenever there is no box).
        """
        return self.sam.prompt_encoder(
            points=(coords.to(self.device).float(), labels.to(self.device).int()), boxes=None, masks=None
        )

    def decode(
        self, embedding: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask decoder on ONE image: ``embedding [1, C, h, w]``, prompts ``[P, T, d]``.

        Returns ``(low-res logits [P, 1, 4h, 4w], attended image tokens [P, C, h, w])``.
        SAM's decoder repeats the image per prompt set, so it cannot batch several images.
        """
        dec = self.sam.mask_decoder
        with capture_attended_image_tokens(dec) as store, fused_decoder_attention(dec):
            logits, _ = dec(
                image_embeddings=embedding,
                image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        return logits, store["tokens"]

    def upsample(self, low_res: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """Low-res logits -> logits at the image size (unpad, resize: SAM's postprocess)."""
        return self.sam.postprocess_masks(low_res, self.resized_hw(image_hw), tuple(image_hw))
