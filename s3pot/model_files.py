"""Reading the project's own model files (.npz archives) with one-line errors.

The face model, the face outline model and the evidence prior are NumPy archives that users
fit and pass on the command line. An empty, truncated or corrupt file otherwise surfaces as
whatever the zip or zlib layer raises (``EOFError``, ``BadZipFile``, ``zlib.error``), as a
traceback; here every such failure is one :class:`~s3pot.errors.CheckpointError` line that
names the file and what it was meant to be. Arrays are read eagerly, inside the guard,
because a corrupt member only fails when it is decompressed.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from s3pot.errors import CheckpointError


def read_npz(path: str | os.PathLike[str], what: str, missing_hint: str = "") -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``; ``what`` names the kind of file in errors
    (``"reference model"``), ``missing_hint`` is added when the file does not exist."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(p, f"is a folder ({what} expected: an .npz file)")
    if not p.is_file():
        raise CheckpointError(p, f"{what} not found{f' ({missing_hint})' if missing_hint else ''}")
    if p.stat().st_size == 0:
        raise CheckpointError(p, f"not a readable {what} (empty file)")
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy array
            raise CheckpointError(p, f"not a readable {what} (a single .npy array, not an .npz archive)")
        with z:
            return {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (EOFError, zipfile.BadZipFile, zlib.error):
        raise CheckpointError(p, f"not a readable {what} (truncated or corrupt archive)") from None
    except Exception as exc:  # noqa: BLE001 - any other format error also means "not this file"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickled data" in reason:  # np.load's guess for bytes that are no archive at all
            reason = "not an .npz archive"
        raise CheckpointError(p, f"not a readable {what} ({reason})") from None
