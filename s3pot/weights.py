"""Every model file s3pot knows: where it is published, its size and checksum.

Used by ``s3pot weights list | download NAME | verify``. Nothing here runs at import time
and nothing is ever downloaded implicitly: a missing file is an error that says which file
to put where.

Downloads resume: bytes go to ``<file>.part``; a new attempt asks the server for the rest
(HTTP Range) and appends. The finished file is checked against the catalogued size and
SHA-256 and only then renamed into place, so a file under its final name is always whole.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from s3pot.errors import S3potError


@dataclass(frozen=True)
class WeightFile:
    name: str  # short name used on the CLI, e.g. "sam_vit_b"
    filename: str  # published file name
    url: str  # where it is published
    sha256: str | None  # published / known SHA-256 (None where none is published)
    size: int | None  # bytes, where known
    description: str


class WeightsError(S3potError):
    """A download or verification failed; the message is one line saying what to do."""


def cache_dir() -> Path:
    """``$S3POT_HOME`` or ``~/.cache/s3pot``: where downloads go and lookups start."""
    return Path(os.environ.get("S3POT_HOME", Path.home() / ".cache" / "s3pot"))


_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"

# Catalogue. Issue owners fill in their entries (SAM: issue 5; BiSeNet, E4S: issue 7).
# SAM: Meta's README publishes the URLs only; the file names carry an md5 prefix
# (01ec64, 0b3195, 4b8939). The SHA-256 values and sizes below are the ones independent
# projects record for these exact files (e.g. micro-sam's model registry, 3D Slicer's
# SegmentAnything extension), consistent with each other.
CATALOG: dict[str, WeightFile] = {
    "sam_vit_b": WeightFile(
        "sam_vit_b",
        "sam_vit_b_01ec64.pth",
        _SAM_URL + "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
        "Segment Anything ViT-B (91M params): --backbone sam --sam-model-type vit_b",
    ),
    "sam_vit_l": WeightFile(
        "sam_vit_l",
        "sam_vit_l_0b3195.pth",
        _SAM_URL + "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        1_249_524_607,
        "Segment Anything ViT-L (308M params): --backbone sam --sam-model-type vit_l",
    ),
    "sam_vit_h": WeightFile(
        "sam_vit_h",
        "sam_vit_h_4b8939.pth",
        _SAM_URL + "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        2_564_550_879,
        "Segment Anything ViT-H (636M params): --backbone sam --sam-model-type vit_h",
    ),
    # BiSeNet / E4S (issue 7): both are published on Google Drive only, with no checksum or
    # size stated by the authors, hence None. (A GitHub mirror of the parser,
    # clibdev/face-parsing.PyTorch, lists 50.8 MB and a SHA-256 for its re-upload; it is not
    # known to be byte-identical to the original, so it is not used for verification.)
    "bisenet_celebamask": WeightFile(
        "bisenet_celebamask",
        "79999_iter.pth",
        "https://drive.google.com/uc?export=download&id=154JgKpzCPW82qINcVieuPH3fZ2e0P812",
        None,
        None,
        "BiSeNet face parser, 19 CelebAMask-HQ classes (zllrunning/face-parsing.PyTorch, "
        "~51 MB): --parser bisenet --parser-checkpoint PATH",
    ),
    "e4s": WeightFile(
        "e4s",
        "iteration_300000.pt",
        "https://drive.google.com/uc?export=download&id=1cyJTYRO5G4kcugAcgSJ7cMsE96GzV_hq",
        None,
        None,
        "E4S regional GAN inversion, FFHQ 300k iterations (e4s2022/e4s; includes its "
        "StyleGAN2 generator, no separate StyleGAN2 file needed): --generator e4s "
        "--e4s-checkpoint PATH",
    ),
}


def get(name: str) -> WeightFile:
    """Catalogue entry by short name; a one-line error lists the known names."""
    if name not in CATALOG:
        raise WeightsError(f"unknown weights '{name}' (known: {', '.join(sorted(CATALOG))})")
    return CATALOG[name]


def local_path(wf: WeightFile, directory: str | Path | None = None) -> Path:
    """Where ``wf`` lives once downloaded (or where to put it by hand)."""
    return (Path(directory) if directory else cache_dir()) / wf.filename


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks (checkpoints are gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(wf: WeightFile, path: str | Path) -> tuple[bool, str]:
    """``(ok, one-line reason)`` for the file at ``path`` against the catalogue."""
    p = Path(path)
    if not p.is_file():
        return False, "missing"
    size = p.stat().st_size
    if wf.size is not None and size != wf.size:
        return False, f"size {size:,} bytes, expected {wf.size:,}"
    if wf.sha256 is None:
        return True, "present (no published checksum to compare)"
    digest = sha256_file(p)
    if digest != wf.sha256:
        return False, f"sha256 {digest[:12]}..., expected {wf.sha256[:12]}..."
    return True, "ok"


def _manual_hint(wf: WeightFile, dest: Path) -> str:
    size = f", {wf.size:,} bytes" if wf.size else ""
    return f"put {wf.filename}{size} (from {wf.url}) at {dest}"


def download(
    wf: WeightFile,
    directory: str | Path | None = None,
    url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 30.0,
    chunk: int = 1 << 20,
) -> Path:
    """Fetch ``wf`` into ``directory`` (default :func:`cache_dir`), resumably; return its path.

    An existing verified file is kept. Network failures raise :class:`WeightsError` with
    one line saying which file to put where; the ``.part`` file stays for the next attempt.
    """
    dest = local_path(wf, directory)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        ok, why = verify(wf, dest)
        if ok:
            return dest
        raise WeightsError(f"{dest}: exists but fails verification ({why}); delete it and retry")
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if wf.size is not None and offset > wf.size:
        part.unlink()
        offset = 0
    source = url or wf.url
    if wf.size is None or offset < wf.size:
        req = urllib.request.Request(source, headers={"User-Agent": "s3pot"})
        if offset:
            req.add_header("Range", f"bytes={offset}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = getattr(resp, "status", 200)
                if offset and status != 206:  # server ignored the range: start over
                    offset = 0
                length = resp.headers.get("Content-Length")
                total = offset + int(length) if length is not None else wf.size
                with open(part, "ab" if offset else "wb") as f:
                    done = offset
                    while block := resp.read(chunk):
                        f.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # nothing left to send: the .part may be whole
                pass
            else:
                raise WeightsError(
                    f"cannot download {wf.name} from {source} (HTTP {exc.code}); {_manual_hint(wf, dest)}"
                ) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WeightsError(
                f"cannot download {wf.name} from {source} ({reason}); {_manual_hint(wf, dest)}"
            ) from None
    ok, why = verify(wf, part)
    if not ok:
        part.unlink(missing_ok=True)
        raise WeightsError(f"{wf.name}: downloaded file fails verification ({why}); removed, retry")
    os.replace(part, dest)
    return dest


def find(name: str, directory: str | Path | None = None) -> Path:
    """Path of a present catalogue file, else a one-line error saying where to put it."""
    wf = get(name)
    dest = local_path(wf, directory)
    if not dest.is_file():
        raise WeightsError(f"{wf.name} not found: run `s3pot weights download {wf.name}` or {_manual_hint(wf, dest)}")
    return dest


def print_progress(done: int, total: int | None) -> None:
    """Progress line on stderr for the CLI."""
    if total:
        sys.stderr.write(f"\r  {done / 1e6:8.1f} / {total / 1e6:.1f} MB ({100 * done / total:5.1f}%)")
    else:
        sys.stderr.write(f"\r  {done / 1e6:8.1f} MB")
    sys.stderr.flush()
