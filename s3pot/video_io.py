"""Video clips in and out, frame by frame (``s3pot video``).

Why OpenCV: mediapipe already brings opencv-contrib-python, whose wheels carry FFmpeg, so
no second video library is needed. Frames come out RGB uint8 like :func:`load_image`'s
photos. Outputs follow the photo rules: nothing half-written is left under its final
name (a frame folder is filled under a hidden temporary name and renamed when complete; a
preview video is written to a temporary file and moved into place).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from s3pot.errors import VideoLoadError
from s3pot.image_io import (
    VIDEO_PREVIEW_SUFFIX,
    VIDEO_SUFFIXES,
    missing_reason,
    unique_paths,
    visible_files,
)

# FFmpeg prints its own complaints ("moov atom not found") on stderr; s3pot reports a bad
# clip in one line of its own instead. Read by OpenCV when a capture opens.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # frames per second the container states (25 if it states none)
    width: int
    height: int
    frames: int  # frame count the container states; 0 if unknown (streams, some WebM)


class VideoReader:
    """Frames of a clip in display order: ``for index, rgb in reader.frames(): ...``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.exists():
            raise VideoLoadError(p, missing_reason(p))
        if p.is_dir():
            raise VideoLoadError(p, "is a folder, not a video")
        if p.stat().st_size == 0:
            raise VideoLoadError(p, "empty file")
        self.path = p
        self._cap = cv2.VideoCapture(str(p))
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoLoadError(p, "not a readable video (FFmpeg could not open it)")
        # Phones store portrait clips as landscape frames plus a rotation in the metadata;
        # players apply it, and OpenCV's FFmpeg reader here does not unless asked (measured:
        # CAP_PROP_ORIENTATION_AUTO reads 0). Without it a portrait clip's faces lie on
        # their side (the face stage misses them) and the masks do not match what users see.
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise VideoLoadError(p, "no frame could be decoded (corrupt or unsupported codec)")
        self._first: np.ndarray | None = first
        h, w = first.shape[:2]
        self.info = VideoInfo(fps=float(fps) if fps and fps > 0 and np.isfinite(fps) else 25.0,
                              width=w, height=h,
                              frames=int(count) if count and count > 0 and np.isfinite(count) else 0)
        self.decoded = 0  # frames read so far (a count below info.frames: truncated file)

    def frames(self, every: int = 1, start: int = 0, limit: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """``(frame index, RGB frame)`` for every ``every``-th frame from ``start``, at most
        ``limit`` of them (0: all). Frames are decoded sequentially (seeking in compressed
        video is not frame-exact), so skipped frames still cost their decode."""
        index, given = 0, 0
        while True:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    return
            self.decoded = index + 1
            if index >= start and (index - start) % every == 0:
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                given += 1
                if limit and given >= limit:
                    return
            index += 1

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PreviewWriter:
    """An MPEG-4 preview clip written to a temporary file; :meth:`commit` moves it to
    ``path``, :meth:`abort` removes it."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part.mp4", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise VideoLoadError(self.path, "cannot write an MPEG-4 video here")

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def commit(self) -> None:
        self._writer.release()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._writer.release()
        self._tmp.unlink(missing_ok=True)


class FrameFolder:
    """A folder of per-frame files filled under a hidden temporary name and renamed to
    ``path`` by :meth:`commit` (replacing an older one); :meth:`abort` removes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent))

    def commit(self) -> None:
        os.chmod(self.tmp, 0o755)
        if self.path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
            os.replace(self.path, old / "x")
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def find_videos(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files as given, and the videos in folders (recursive; hidden ones and s3pot's own
    ``*.overlay.mp4`` previews passed over, so ``-o`` may be the clips' folder). Returns
    ``(paths, problems)`` like :func:`s3pot.image_io.find_images`."""
    paths: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in visible_files(p) if q.suffix.lower() in VIDEO_SUFFIXES
                           and not q.name.endswith(VIDEO_PREVIEW_SUFFIX))
            if not found:
                problems.append((item, "folder holds no videos"))
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            problems.append((item, missing_reason(p)))
    return unique_paths(paths), problems
