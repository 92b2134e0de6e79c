"""``s3pot video``: per-frame occlusion masks of video clips (face swapping works on clips).

Each frame goes through the same pipeline as a photo, independently (no tracking, no
temporal smoothing: a mask is exactly what ``s3pot segment`` gives on that frame). Per
clip NAME it writes ``NAME.occlusion/NNNNNN.png`` (one 0/255 mask per processed frame,
named by frame index, as face-swap tools read mask sequences), ``NAME.overlay.mp4`` (a
preview) and, with ``--json``, ``NAME.json`` (per frame: faces, boxes, RLE masks).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s3pot.cli.batch import nonnegative_int, positive_int, unique_stems, usable_output_folder
from s3pot.cli.segment import add_pipeline_arguments, build_predictor


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="occlusion masks of every frame of video clips",
        description="Writes NAME.occlusion/NNNNNN.png (0/255 per frame, 255 = face covered by "
        "something; NNNNNN = frame index) and NAME.overlay.mp4 per clip.",
    )
    p.add_argument("inputs", nargs="+", metavar="CLIP", help="video files or folders (recursive)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="process every N-th frame")
    p.add_argument("--start", type=nonnegative_int, default=0, metavar="FRAME",
                   help="first frame index to process (0 = the first frame)")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                   help="process at most N frames per clip")
    p.add_argument("--json", action="store_true", help="NAME.json: faces, boxes, RLE masks per frame")
    p.add_argument("--no-overlay", action="store_true", help="do not write NAME.overlay.mp4")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip clips whose outputs exist (resume a batch of clips)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pipeline_arguments(p)
    p.set_defaults(func=run)


@dataclass
class ClipSummary:
    clips: int = 0
    skipped: int = 0
    frames: int = 0
    frames_with_face: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"clips: {self.clips} processed, {self.skipped} skipped (existing), "
               f"{len(self.failures)} failed",
               f"frames: {self.frames} processed, {self.frames_with_face} with a face"]
        out += [f"  truncated: {t}" for t in self.truncated]
        out += [f"  failed: {name}: {why}" for name, why in self.failures]
        return out


def run(args: argparse.Namespace) -> int:
    from s3pot.errors import S3potError
    from s3pot.video_io import find_videos

    outdir = usable_output_folder(args.output)
    if outdir is None:
        return 2
    predictor = build_predictor(args)
    paths, problems = find_videos(args.inputs)
    summary = ClipSummary(failures=list(problems))
    for name, why in problems:
        print(f"s3pot: {name}: {why}", file=sys.stderr)
    for path, stem in zip(paths, unique_stems(paths, [], outdir), strict=True):
        if args.skip_existing and all(p.exists() for p in clip_outputs(stem, args)):
            summary.skipped += 1
            continue
        try:
            frames, with_face, truncated = segment_clip(predictor, path, stem, args)
        except S3potError as exc:
            summary.failures.append((str(path), exc.problem if hasattr(exc, "problem") else str(exc)))
            print(f"s3pot: {exc}", file=sys.stderr)
            continue
        summary.clips += 1
        summary.frames += frames
        summary.frames_with_face += with_face
        if truncated:
            summary.truncated.append(truncated)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.failures else 0


def clip_outputs(stem: Path, args: argparse.Namespace) -> list[Path]:
    """What a finished clip leaves (complete by construction: each appears only whole)."""
    from s3pot.image_io import VIDEO_PREVIEW_SUFFIX

    outs = [Path(f"{stem}.occlusion")]
    if not args.no_overlay:
        outs.append(Path(f"{stem}{VIDEO_PREVIEW_SUFFIX}"))
    if args.json:
        outs.append(Path(f"{stem}.json"))
    return outs


def segment_clip(predictor, path: Path, stem: Path, args: argparse.Namespace) -> tuple[int, int, str]:
    """Segment the chosen frames of one clip; returns (frames, frames with a face, a
    truncation notice or ""). Outputs appear only when the clip is done."""
    from tqdm import tqdm

    from s3pot.errors import VideoLoadError
    from s3pot.export import POLARITY, result_to_json
    from s3pot.image_io import VIDEO_PREVIEW_SUFFIX, save_image, save_json
    from s3pot.render import overlay
    from s3pot.video_io import FrameFolder, PreviewWriter, VideoReader

    with VideoReader(path) as reader:
        info = reader.info
        todo = max(0, -(-(info.frames - args.start) // args.every)) if info.frames else None
        if todo is not None and args.max_frames:
            todo = min(todo, args.max_frames)
        # Output folders are created at the first frame: a clip that yields none leaves
        # nothing behind.
        masks: FrameFolder | None = None
        preview: PreviewWriter | None = None
        records: list[dict] = []
        done = with_face = 0
        try:
            bar = tqdm(total=todo, desc=path.name, unit="frame", disable=args.quiet, leave=False)
            for index, frame in reader.frames(args.every, args.start, args.max_frames or 0):
                result = predictor.segment(frame)
                if masks is None:
                    masks = FrameFolder(f"{stem}.occlusion")
                    if not args.no_overlay:
                        preview = PreviewWriter(f"{stem}{VIDEO_PREVIEW_SUFFIX}", info.fps / args.every,
                                                (info.width, info.height))
                save_image(masks.tmp / f"{index:06d}.png", result.occlusion.astype(np.uint8) * 255)
                if preview is not None:
                    preview.write(overlay(frame, result.occlusion, result.faces, result.face_region))
                if args.json:
                    records.append({"frame": index, "time": round(index / info.fps, 4),
                                    "faces": result_to_json(result, str(path), with_landmarks=False)["faces"]})
                done += 1
                with_face += bool(result.faces)
                bar.update(1)
            bar.close()
            if masks is None:
                raise VideoLoadError(path, f"no frame at or after --start {args.start} "
                                           f"(the clip has {reader.decoded})")
        except BaseException:
            if masks is not None:
                masks.abort()
            if preview is not None:
                preview.abort()
            raise
        masks.commit()
        if preview is not None:
            preview.commit()
        if args.json:
            save_json(f"{stem}.json", {"video": str(path), "fps": info.fps, "width": info.width,
                                       "height": info.height, "polarity": POLARITY, "frames": records})
        truncated = ""
        if info.frames and reader.decoded < info.frames and not args.max_frames:
            truncated = f"{path}: decoded {reader.decoded} of the {info.frames} frames the file states"
        return done, with_face, truncated

