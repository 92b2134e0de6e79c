"""``s3pot parse``: the face parsing of every photo, pasted back (no segmentation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from s3pot.cli.batch import add_batch_arguments, run_batch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="12-class face parsing of photos (NAME.parsing.png)")
    add_batch_arguments(p)
    p.add_argument("--size", type=int, default=256, choices=(256, 512, 1024), help="aligned crop size")
    p.add_argument("--parser", default="landmarks", help="parser backend (landmarks, bisenet)")
    p.add_argument("--parser-checkpoint", help="checkpoint for --parser bisenet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3pot.image_io import load_image, save_image
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.render import parsing_in_photo

    kwargs = {"checkpoint": args.parser_checkpoint} if args.parser_checkpoint else {}
    predictor = S3potPredictor(PipelineConfig(align_size=args.size, parser=args.parser, parser_kwargs=kwargs))

    def process(path: Path, stem: Path) -> int:
        image = load_image(path)
        faces = predictor.prepare(image, reference=False)
        save_image(f"{stem}.parsing.png", parsing_in_photo(image, faces))
        return len(faces)

    return run_batch(args, process, lambda stem: [Path(f"{stem}.parsing.png")])
