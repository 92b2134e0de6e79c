"""What ``s3pot video`` costs on top of segmenting the frames it reads.

Makes a clip (the demo photo, ``--frames`` frames, the camera panning; no data needed),
then in one process, after one warm-up frame:

- baseline: ``predictor.segment`` on the clip's frames, already decoded in memory;
- ``s3pot video``'s clip loop (``segment_clip``: decode, segment, write each mask PNG, encode
  the preview MPEG-4, write the JSON), on the same predictor;

and prints the time per frame of each and their ratio (the video command's overhead).

    python benchmarks/video_overhead.py [--frames 60] [--side 512]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, frames: int, side: int) -> None:
    import cv2
    import numpy as np

    from s3pot.cli.demo import demo_photo

    photo, _ = demo_photo()
    photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (side, side))
    for i in range(frames):
        shift = np.float32([[1, 0, 4 * np.sin(i / 5)], [0, 1, 3 * np.cos(i / 7)]])
        frame = cv2.warpAffine(photo, shift, (side, side), borderMode=cv2.BORDER_REFLECT)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--side", type=int, default=512)
    args = ap.parse_args(argv)

    from s3pot.cli.main import build_parser
    from s3pot.cli.segment import build_predictor
    from s3pot.cli.video import segment_clip
    from s3pot.video_io import VideoReader

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, args.frames, args.side)
        cli = build_parser().parse_args(["video", str(clip), "-o", str(Path(tmp) / "out"), "--json", "--quiet"])
        predictor = build_predictor(cli)
        with VideoReader(clip) as reader:
            frames = [f for _, f in reader.frames()]
        predictor.segment(frames[0])  # warm-up (graph start, first allocations)

        t0 = time.perf_counter()
        for f in frames:
            predictor.segment(f)
        t_base = (time.perf_counter() - t0) / len(frames)

        t0 = time.perf_counter()
        done, _, _ = segment_clip(predictor, clip, Path(tmp) / "out" / "clip", cli)
        t_video = (time.perf_counter() - t0) / done

    print(f"clip: {len(frames)} frames of {args.side}x{args.side}")
    print(f"segment on decoded frames: {t_base * 1e3:.1f} ms/frame ({1 / t_base:.1f} frames/s)")
    print(f"s3pot video clip loop:     {t_video * 1e3:.1f} ms/frame ({1 / t_video:.1f} frames/s)")
    print(f"ratio video / segment: {t_video / t_base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
