"""Reading photos robustly and writing outputs atomically.

Every input becomes an RGB ``uint8`` array in display orientation: EXIF rotation is
applied, grayscale / palette / RGBA / 16-bit / float images are converted (float TIFFs
Pillow cannot read go through OpenCV). Every failure is an
:class:`~s3pot.errors.ImageLoadError` whose message is one line naming the file.
Outputs go to a temporary file in the destination folder and are renamed into place, so an
interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from s3pot.errors import ImageLoadError

# Suffixes a folder is searched for: what Pillow decodes here (AVIF included) and cameras,
# phones and scanners commonly write.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".bmp",
                  ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm", ".tga")
# Photo formats this build cannot decode (HEIC needs a plugin, RAW a developer). Found in a
# folder they are reported, not silently passed over, and named explicitly they fail with
# what to do instead of "unrecognised format".
UNREADABLE_PHOTO_SUFFIXES = (".heic", ".heif", ".dng", ".cr2", ".cr3", ".nef", ".arw",
                             ".raf", ".orf", ".rw2")
UNREADABLE_PHOTO_HINT = "format not supported here: convert to JPEG or PNG"
# Videos are not photos: a face-swap user points s3pot at a clip or at a folder holding one.
# Found in a folder they are reported like HEIC files; named explicitly they fail with the
# command that reads them, not with "unrecognised format".
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg",
                  ".3gp", ".flv")
VIDEO_HINT = "video, not a photo: segment it with `s3pot video`"
VIDEO_PREVIEW_SUFFIX = ".overlay.mp4"  # the previews `s3pot video` writes (outputs, not inputs)


def unreadable_hint(path: str | os.PathLike[str]) -> str | None:
    """What to do with a file this build does not read as a photo (by its suffix), or None."""
    suffix = Path(path).suffix.lower()
    if suffix in UNREADABLE_PHOTO_SUFFIXES:
        return UNREADABLE_PHOTO_HINT
    if suffix in VIDEO_SUFFIXES:
        return VIDEO_HINT
    return None


def describe_unreadable(paths: list[Path]) -> str:
    """One phrase for the files a folder search passed over for their format, counted by
    suffix and grouped by what to do: ``"2 .heic (format not supported here: ...); 1 .mp4
    (video, not a photo: ...)"``."""
    from collections import Counter

    groups: dict[str, Counter] = {}
    for p in paths:
        groups.setdefault(unreadable_hint(p) or "not read", Counter())[p.suffix.lower()] += 1
    return "; ".join(", ".join(f"{n} {s}" for s, n in sorted(kinds.items())) + f" ({hint})"
                     for hint, kinds in groups.items())


# Pillow refuses images above ~179 Mpx as a decompression-bomb guard. Real photos stay
# well below this; anything larger is almost surely hostile or corrupt.
Image.MAX_IMAGE_PIXELS = 250_000_000


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8 (16-bit and float are rescaled, alpha dropped)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            arr = arr / 257.0
        elif img.mode == "I":
            top = arr.max() if arr.size else 1.0
            arr = arr / 257.0 if top > 255 else arr
        else:  # float images: [0, 1] unless clearly 0..255 (_float_to_255)
            arr = _float_to_255(arr)
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white, as viewers show transparent pixels; a face under alpha=0
        # pixels is not visible anyway.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Load ``path`` as an RGB uint8 array (H, W, 3) in display orientation."""
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(p, missing_reason(p))
    if p.is_dir():
        raise ImageLoadError(p, "is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageLoadError(p, f"cannot read file ({exc.strerror or exc})") from None
    try:
        return decode_image(data, name=p)
    except ImageLoadError as exc:
        hint = unreadable_hint(p)
        if hint is not None and exc.problem.startswith("not an image"):
            raise ImageLoadError(p, f"{p.suffix.lower()[1:].upper()} {hint}") from None
        raise


def missing_reason(path: Path) -> str:
    """Why ``path`` (which does not exist) cannot be read: a missing file, or a symbolic link
    whose target is gone (a moved photo library leaves those behind)."""
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"broken symbolic link (its target {target} does not exist)"
    return "file not found"


# TIFF's two byte orders. Pillow cannot decode every TIFF photographers and scanners write
# (32-bit float RGB, from HDR merges and scientific cameras); OpenCV's libtiff can.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _decode_tiff_with_opencv(data: bytes) -> np.ndarray | None:
    """A TIFF Pillow cannot identify (the caller has checked its header and applied Pillow's
    pixel guard to it), decoded by OpenCV and brought to RGB uint8 by the rules of
    :func:`_to_rgb` (16-bit / 257, floats by :func:`_float_to_255`, alpha composited on
    white); None if OpenCV cannot decode it either."""
    import cv2

    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if arr is None or arr.size == 0:
        return None
    x = arr.astype(np.float64)
    if arr.dtype == np.uint16:
        x = x / 257.0
    elif arr.dtype.kind == "f":
        x = _float_to_255(x)
    if x.ndim == 3 and x.shape[2] in (2, 4):  # grey or colour plus alpha: on white
        alpha = np.clip(x[..., -1:] / 255.0, 0.0, 1.0)
        x = x[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if x.ndim == 2 or x.shape[2] == 1:
        return np.repeat(x.reshape(x.shape[0], x.shape[1], 1), 3, axis=2)
    return np.ascontiguousarray(x[..., 2::-1])  # BGR -> RGB


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a TIFF's first image directory, read before anything is decoded
    (a small compressed file can hold a huge image); None if the header is not readable."""
    import struct

    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        dims = {}
        for i in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, offset + 2 + 12 * i)
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
                dims[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
    except struct.error:
        return None
    return (dims[256], dims[257]) if len(dims) == 2 else None


# Float photos hold [0, 1], with highlights above 1 in HDR merges (kept, then clipped);
# a float image whose largest value exceeds this was written on the 0..255 scale.
FLOAT_UNIT_MAX = 4.0


def _float_to_255(x: np.ndarray) -> np.ndarray:
    """Float pixel values on the 0..255 scale (NaN and -inf as 0, +inf as white)."""
    x = np.asarray(x, np.float64)
    unit = float(np.max(x[np.isfinite(x)], initial=0.0)) <= FLOAT_UNIT_MAX
    x = np.nan_to_num(x, nan=0.0, posinf=1.0 if unit else 255.0, neginf=0.0)
    return x * 255.0 if unit else x


def decode_image(data: bytes, name: object = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes; see :func:`load_image`."""
    if not data:
        raise ImageLoadError(name, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # forces full decode: truncated files fail here
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb(img)
    except UnidentifiedImageError:
        arr = None  # perhaps a TIFF Pillow cannot read: OpenCV's turn, below
    except Image.DecompressionBombError:
        raise ImageLoadError(name, "image too large (decompression-bomb guard)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageLoadError(name, f"corrupt or truncated image ({msg})") from None
    if arr is None:
        size = _tiff_size(data) if data.startswith(TIFF_MAGIC) else None
        if size is not None and size[0] * size[1] > Image.MAX_IMAGE_PIXELS:
            raise ImageLoadError(name, "image too large (decompression-bomb guard)")
        arr = _decode_tiff_with_opencv(data) if size is not None else None
        if arr is None:
            raise ImageLoadError(name, "not an image (unrecognised format)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageLoadError(name, "image has zero size")
    return np.ascontiguousarray(arr)


_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def save_image(path: str | os.PathLike[str], array: np.ndarray, quality: int = 92) -> None:
    """Write an image atomically; the format follows the suffix of ``path``."""
    p = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}.get(
        p.suffix.lower(), "PNG"
    )
    img = Image.fromarray(np.ascontiguousarray(array))
    kwargs: dict = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and np.ndim(array) == 3:
        # Colour PNGs (parsing, reference): zlib level 3 instead of 6 writes a 38-Mpx photo
        # in 3.3 s instead of 7.8 s for 17 % more bytes; masks keep the default (fast anyway).
        kwargs["compress_level"] = 3
    _atomic_write(p, lambda tmp: img.save(tmp, format=fmt, **kwargs))


def save_json(path: str | os.PathLike[str], obj: object) -> None:
    """Write JSON atomically."""
    text = json.dumps(obj, indent=1)
    _atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write raw bytes atomically (checkpoints, caches)."""
    _atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def find_images(inputs: list[str], unreadable: list[Path] | None = None
                ) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files, folders (recursive) and globs into image paths.

    Returns ``(paths, problems)``; ``problems`` lists inputs that matched nothing. A file
    given explicitly is kept whatever its suffix (so the user gets a clear decode error).
    In folders, hidden files and folders (``.thumbnails/``, macOS ``._IMG.jpg`` resource
    forks, which are not images) are passed over, as file browsers do. Photos found in the
    folders in a format this build cannot decode (HEIC, camera RAW) and videos are passed
    over too; ``unreadable``, if given, receives them (sorted), so that a batch can report
    them (:func:`describe_unreadable`).
    """
    import glob

    paths: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = visible_files(p)
            found = sorted(q for q in files if q.suffix.lower() in IMAGE_SUFFIXES)
            if unreadable is not None:
                unreadable.extend(q for q in files if unreadable_hint(q) is not None)
            if not found:
                problems.append((item, "folder holds no images"))
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(item, recursive=True) if Path(q).is_file())
            if not found:
                problems.append((item, "pattern matched no files"))
            paths.extend(found)
        else:
            problems.append((item, missing_reason(p)))
    if unreadable is not None:
        unreadable.sort()
    return unique_paths(paths), problems


def visible_files(folder: Path) -> list[Path]:
    """Files under ``folder`` (recursive), hidden files and folders passed over."""
    return [q for q in folder.rglob("*") if (q.is_file() or _broken_link(q))
            and not any(part.startswith(".") for part in q.relative_to(folder).parts)]


def _broken_link(path: Path) -> bool:
    """A symbolic link whose target is gone: kept in a folder search, so that the batch
    reports it (:func:`missing_reason`) instead of passing it over in silence."""
    return path.is_symlink() and not path.exists()


def unique_paths(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats of the same file (named twice, or by two routes)."""
    seen: set[Path] = set()
    return [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]
