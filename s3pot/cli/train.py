"""``s3pot train``: fit the screening network on a folder of face photos (no masks needed).

Multi-GPU / multi-process: ``torchrun --nproc_per_node N -m s3pot.cli.main train ...``.
"""

from __future__ import annotations

import argparse
import sys

from s3pot.cli.segment import add_parser_arguments, device_arg
from s3pot.reference.base import GENERATORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the screening network (self-supervised, no masks)",
        description="Trains S³POT's screening network on the face photos under DATA_DIR "
        "(recursively; mask/annotation files and folders are never read). References and SAM "
        "embeddings are cached on disk and reused across runs. Writes RUN_DIR/epoch_NNN.pt, "
        "last.pt (resumable) and screening.pt (for `s3pot segment --screening`).",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("-o", "--output", dest="run_dir", metavar="RUN_DIR", required=True)
    p.add_argument("--sam-checkpoint", required=True, help="official SAM checkpoint (s3pot weights download sam_vit_b)")
    p.add_argument("--sam-model-type", choices=("vit_b", "vit_l", "vit_h"), help="inferred when omitted")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=3, help="faces per step and process")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=1e-6)
    p.add_argument("--depth", type=int, default=1, help="screening attention layers")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, help="similarity threshold for matches (off by default)")
    p.add_argument("--top-k", type=int, help="keep only the k most similar positives (off by default)")
    p.add_argument("--size", type=int, default=1024, choices=(256, 512, 1024), help="aligned crop size")
    add_parser_arguments(p)
    p.add_argument("--generator", default="pca", choices=GENERATORS.names(),
                   help="reference generator backend")
    p.add_argument("--reference-model", help="model file for --generator pca")
    p.add_argument("--e4s-checkpoint", help="checkpoint for --generator e4s")
    p.add_argument("--cache-dir", help="embedding cache (default: $S3POT_HOME/train-cache)")
    p.add_argument("--device", default="cpu", type=device_arg,
                   help="cpu or cuda (one GPU per torchrun process)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt exactly")
    p.add_argument("--stop-after-epoch", type=int, help="end this invocation after that epoch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3pot.cli.segment import stage_kwargs
    from s3pot.errors import S3potError
    from s3pot.training.train import TrainConfig, train

    parser_kwargs, gen_kwargs = stage_kwargs(args)
    config = TrainConfig(
        data_dir=args.data_dir,
        run_dir=args.run_dir,
        sam_checkpoint=args.sam_checkpoint,
        model_type=args.sam_model_type,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        depth=args.depth,
        heads=args.heads,
        seed=args.seed,
        threshold=args.threshold,
        top_k=args.top_k,
        align_size=args.size,
        parser=args.parser,
        generator=args.generator,
        parser_kwargs=parser_kwargs,
        generator_kwargs=gen_kwargs,
        cache_dir=args.cache_dir,
        device=args.device,
        resume=args.resume,
        stop_after_epoch=args.stop_after_epoch,
    )
    try:
        result = train(config)
    except S3potError as exc:
        print(f"s3pot train: {exc}", file=sys.stderr)
        return 1
    print(f"trained {result['epochs_done']} epoch(s); screening network: {result['run_dir']}/screening.pt")
    return 0
