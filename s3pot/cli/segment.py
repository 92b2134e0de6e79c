"""``s3pot segment``: occlusion masks for every face of every photo."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from s3pot.cli.batch import add_batch_arguments, positive_int, run_batch
from s3pot.occluders.base import OCCLUDERS
from s3pot.parsing.base import PARSERS
from s3pot.reference.base import GENERATORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="occlusion masks of every face in photos",
        description="Writes NAME.occlusion.png (0/255, photo size, 255 = face covered by "
        "something) and NAME.overlay.jpg per photo; more with the flags below.",
    )
    add_batch_arguments(p)
    add_pipeline_arguments(p)
    p.add_argument("--json", action="store_true", help="NAME.json: faces, boxes, landmarks, RLE masks")
    p.add_argument("--save-parsing", action="store_true", help="NAME.parsing.png (parsing pasted back)")
    p.add_argument("--save-visible", action="store_true", help="NAME.visible.png (visible-face mask)")
    p.add_argument("--save-reference", action="store_true", help="NAME.reference.png (de-occluded photo)")
    p.set_defaults(func=run)


def add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pipeline")
    g.add_argument("--size", type=int, default=256, choices=(256, 512, 1024), help="aligned crop size")
    g.add_argument("--max-faces", type=positive_int, default=16, help="most faces per photo")
    add_parser_arguments(g)
    g.add_argument("--generator", default="pca", choices=GENERATORS.names(),
                   help="reference generator backend")
    g.add_argument("--reference-model", help="model file for --generator pca (from fit-reference)")
    g.add_argument("--e4s-checkpoint", help="checkpoint for --generator e4s")
    g.add_argument("--occluders", default="hands", choices=OCCLUDERS.names() + ["none"],
                   help="detector of known occluders whose hits the segmenter takes as occlusion "
                        "(default hands: mediapipe's hand model; none: off, about 20%% faster)")
    g.add_argument("--backbone", default=None, choices=("offline", "sam"),
                   help="segmenter backbone (default: sam if --sam-checkpoint is given, else offline)")
    g.add_argument("--sam-checkpoint", help="official SAM checkpoint (sam_vit_b_01ec64.pth, ...)")
    g.add_argument("--sam-model-type", choices=("vit_b", "vit_l", "vit_h"), help="inferred when omitted")
    g.add_argument("--screening", help="trained screening-network checkpoint (s3pot train)")
    g.add_argument("--fit-steps", type=int, default=0, help="per-image fitting steps (SAM backbone)")
    g.add_argument("--device", default="cpu", type=device_arg,
                   help="torch device of the SAM backbone, E4S and BiSeNet (cpu, cuda, cuda:N, "
                        "mps); the offline default runs on the CPU whatever this says")


def device_arg(text: str) -> str:
    """argparse type: a torch device that exists on this machine.

    ``--device cuda`` on a machine without a GPU (or with a CPU-only torch) would otherwise
    fail deep inside the first model load, or not at all on the offline path, where the user
    then wonders why it is slow."""
    if text == "cpu":  # the default: no need to import torch just to parse the command line
        return text
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text}: CUDA is not available here (no GPU, or a CPU-only torch build); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: unsupported device type (cpu, cuda, cuda:N, mps)")
    return text


def add_parser_arguments(g: argparse._ActionsContainer) -> None:
    """``--parser`` and ``--parser-checkpoint`` (shared with ``s3pot parse``)."""
    g.add_argument("--parser", default="landmarks", choices=PARSERS.names(), help="face parser backend")
    g.add_argument("--parser-checkpoint", help="checkpoint for --parser bisenet (79999_iter.pth)")
    g.add_argument("--outline-model", help="68-point face outline model for --parser landmarks "
                   "(fitted on your annotated photos: python -m s3pot.parsing.outline)")


def parser_kwargs_from(args: argparse.Namespace) -> dict:
    """Keyword arguments of the parser backend; a backend that needs weights needs its flag,
    and a model flag of the other backend is refused (one clear line, before any photo,
    instead of a traceback)."""
    outline_model = getattr(args, "outline_model", None)
    if args.parser == "bisenet":
        if not args.parser_checkpoint:
            raise SystemExit("s3pot: --parser bisenet needs --parser-checkpoint PATH "
                             "(get one with: s3pot weights download bisenet_celebamask)")
        if outline_model:
            raise SystemExit("s3pot: --outline-model is for --parser landmarks (BiSeNet draws "
                             "its own face region)")
        kwargs: dict = {"checkpoint": args.parser_checkpoint}
        if getattr(args, "device", "cpu") != "cpu":
            kwargs["device"] = args.device
        return kwargs
    if args.parser_checkpoint:
        raise SystemExit(f"s3pot: --parser-checkpoint is for --parser bisenet, not {args.parser}")
    return {"outline_model": outline_model} if outline_model else {}


def stage_kwargs(args: argparse.Namespace) -> tuple[dict, dict]:
    """Keyword arguments of the parser and generator backends from their flags."""
    parser_kwargs = parser_kwargs_from(args)
    if args.generator == "e4s" and not args.e4s_checkpoint:
        raise SystemExit("s3pot: --generator e4s needs --e4s-checkpoint PATH "
                         "(get one with: s3pot weights download e4s)")
    gen_kwargs: dict = {}
    if args.generator == "pca" and args.reference_model:
        gen_kwargs["model"] = args.reference_model
    if args.e4s_checkpoint:
        gen_kwargs["checkpoint"] = args.e4s_checkpoint
    if args.generator == "e4s" and args.device != "cpu":
        gen_kwargs["device"] = args.device
    return parser_kwargs, gen_kwargs


def config_from_args(args: argparse.Namespace):
    """PipelineConfig from the pipeline flags."""
    from s3pot.pipeline import PipelineConfig

    parser_kwargs, gen_kwargs = stage_kwargs(args)
    backbone = args.backbone or ("sam" if args.sam_checkpoint else "offline")
    bb_kwargs: dict = {}
    if backbone == "sam":
        if not args.sam_checkpoint:
            raise SystemExit("s3pot: --backbone sam needs --sam-checkpoint PATH "
                             "(get one with: s3pot weights download sam_vit_b)")
        bb_kwargs = {"sam_checkpoint": args.sam_checkpoint, "model_type": args.sam_model_type,
                     "screening": args.screening, "fit_steps": args.fit_steps, "device": args.device}
    return PipelineConfig(
        align_size=args.size, max_faces=args.max_faces,
        parser=args.parser, parser_kwargs=parser_kwargs,
        generator=args.generator, generator_kwargs=gen_kwargs,
        backbone=backbone, backbone_kwargs=bb_kwargs, occluders=args.occluders,
    )


def build_predictor(args: argparse.Namespace):
    """The pipeline of ``args`` with its models built now, before any photo or clip: a
    missing or broken model fails once, early, in one line."""
    from s3pot.errors import S3potError
    from s3pot.pipeline import S3potPredictor

    try:
        predictor = S3potPredictor(config_from_args(args))
        _ = predictor.segmenter, predictor.generator, predictor.parser
    except S3potError as exc:
        raise SystemExit(f"s3pot: {exc}") from None
    return predictor


def _outputs(args: argparse.Namespace, stem: Path) -> list[Path]:
    outs = [Path(f"{stem}.occlusion.png"), Path(f"{stem}.overlay.jpg")]
    for flag, suffix in (("json", "json"), ("save_parsing", "parsing.png"),
                         ("save_visible", "visible.png"), ("save_reference", "reference.png")):
        if getattr(args, flag):
            outs.append(Path(f"{stem}.{suffix}"))
    return outs


def run(args: argparse.Namespace) -> int:
    return run_batch(args, segment_job, lambda stem: _outputs(args, stem))


def segment_job(args: argparse.Namespace):
    """Build the pipeline of ``args`` and return ``process(photo, stem) -> faces found``
    (run once per process: in the parent, and in every ``--jobs`` worker)."""
    from s3pot.export import result_to_json
    from s3pot.image_io import load_image, save_image, save_json
    from s3pot.paste import paste_references
    from s3pot.render import overlay, parsing_in_photo

    predictor = build_predictor(args)

    def process(path: Path, stem: Path) -> int:
        image = load_image(path)
        result = predictor.segment(image)
        u8 = lambda m: (m.astype(np.uint8) * 255)  # noqa: E731
        save_image(f"{stem}.occlusion.png", u8(result.occlusion))
        save_image(f"{stem}.overlay.jpg", overlay(image, result.occlusion, result.faces, result.face_region))
        if args.json:
            save_json(f"{stem}.json", result_to_json(result, str(path)))
        if args.save_parsing:
            save_image(f"{stem}.parsing.png", parsing_in_photo(image, result.faces))
        if args.save_visible:
            save_image(f"{stem}.visible.png", u8(result.visible))
        if args.save_reference:
            predictor.restore_references(result)
            save_image(f"{stem}.reference.png", paste_references(image, result.faces))
        return len(result.faces)

    return process
