"""Reading published PyTorch checkpoints safely, with one-line errors.

Every backend that loads someone else's weights (BiSeNet, E4S, SAM) needs the same three
things: unpickle with ``weights_only`` (no code runs from a downloaded file), say in one
line which file is wrong and how, and refuse partial loads (a half-loaded network gives
silently wrong masks, which is worse than an error).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from s3pot.errors import CheckpointError


def read_torch_file(path: str | Path, weights_name: str) -> object:
    """Unpickled content of ``path`` (``weights_only``); ``weights_name`` is the catalogue
    name suggested for download when the file is missing."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(p, "is a folder, not a checkpoint file")
    if not p.is_file():
        raise CheckpointError(p, f"file not found (download it with `s3pot weights download {weights_name}`)")
    if p.stat().st_size == 0:
        raise CheckpointError(p, "not a readable PyTorch checkpoint (empty file)")
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickles: we report one line
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not this file"
        raise CheckpointError(p, f"not a readable PyTorch checkpoint ({_why_unreadable(p, exc)})") from None


def _why_unreadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` refused ``path``, in words a user can act on (a download cut
    short is the common case): torch's own messages run to paragraphs, and its exception
    types (KeyError for a text file, RuntimeError for a cut-off archive) say nothing.
    Checkpoints are zip archives (torch >= 1.6) or, older, raw pickles."""
    import zipfile

    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            return "truncated or corrupt archive: an interrupted download? fetch it again"
    elif head[:1] != b"\x80":  # every pickle protocol >= 2 starts so
        return "neither a zip archive nor a pickle"
    if "weights only" in str(exc).lower():
        return "holds Python objects besides tensors; s3pot loads weights only"
    return f"truncated or corrupt ({type(exc).__name__})"


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop a ``DataParallel`` / wrapper prefix from every key that has it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}


def check_keys(model_sd: Mapping[str, torch.Tensor], file_sd: Mapping[str, torch.Tensor],
               path: str | Path, what: str = "the architecture") -> None:
    """One-line CheckpointError naming the file when keys or shapes differ."""
    missing = [k for k in model_sd if k not in file_sd]
    unexpected = [k for k in file_sd if k not in model_sd]
    wrong = [f"{k} {tuple(file_sd[k].shape)} != {tuple(v.shape)}" for k, v in model_sd.items()
             if k in file_sd and tuple(file_sd[k].shape) != tuple(v.shape)]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatches", wrong)):
        if items:
            shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
            problems.append(f"{len(items)} {label} ({shown})")
    if problems:
        raise CheckpointError(path, f"does not match {what}: " + "; ".join(problems))
