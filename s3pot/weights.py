"""Every model file s3pot knows: where it is published, its size and checksum.

Used by ``s3pot weights list | download NAME | verify``. Nothing here runs at import time
and nothing is ever downloaded implicitly: a missing file is an error that says which file
to put where.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WeightFile:
    name: str  # short name used on the CLI, e.g. "sam_vit_b"
    filename: str  # published file name
    url: str  # where it is published
    sha256: str | None  # published / known SHA-256 (None where none is published)
    size: int | None  # bytes, where known
    description: str


def cache_dir() -> Path:
    """``$S3POT_HOME`` or ``~/.cache/s3pot``: where downloads go and lookups start."""
    return Path(os.environ.get("S3POT_HOME", Path.home() / ".cache" / "s3pot"))


# Catalogue. Issue owners fill in their entries (SAM: issue 5; BiSeNet, E4S: issue 7).
CATALOG: dict[str, WeightFile] = {}
