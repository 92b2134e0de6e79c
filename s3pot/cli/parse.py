"""``s3pot parse``: the face parsing of every photo, pasted back (no segmentation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from s3pot.cli.batch import add_batch_arguments, positive_int, run_batch
from s3pot.cli.segment import add_parser_arguments, parser_kwargs_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="12-class face parsing of photos (NAME.parsing.png)")
    add_batch_arguments(p)
    p.add_argument("--size", type=int, default=256, choices=(256, 512, 1024), help="aligned crop size")
    p.add_argument("--max-faces", type=positive_int, default=16, help="most faces per photo")
    add_parser_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_batch(args, parse_job, lambda stem: [Path(f"{stem}.parsing.png")])


def parse_job(args: argparse.Namespace):
    """Build the parser of ``args`` and return ``process(photo, stem) -> faces found``
    (run once per process: in the parent, and in every ``--jobs`` worker)."""
    from s3pot.errors import S3potError
    from s3pot.image_io import load_image, save_image
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.render import parsing_in_photo

    kwargs = parser_kwargs_from(args)
    config = PipelineConfig(align_size=args.size, max_faces=args.max_faces, parser=args.parser,
                            parser_kwargs=kwargs)
    predictor = S3potPredictor(config)
    try:
        _ = predictor.parser  # a bad checkpoint fails once, before the batch
    except S3potError as exc:
        raise SystemExit(f"s3pot: {exc}") from None

    def process(path: Path, stem: Path) -> int:
        image = load_image(path)
        faces = predictor.prepare(image, reference=False)
        save_image(f"{stem}.parsing.png", parsing_in_photo(image, faces))
        return len(faces)

    return process
