"""``s3pot eval``: score predicted masks, or a named method, on an annotated dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s3pot.eval.readers import LAYOUTS

METHOD_NAMES = ("empty", "skin", "diff", "supervised-synth", "s3pot")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score occlusion masks (a folder, or a method) on a dataset",
        description="s3pot eval PRED_DIR DATASET scores NAME.png / NAME.occlusion.png masks "
        "(0/255, optional NAME.visible.png); s3pot eval --method NAME DATASET runs a method "
        "and scores it. Prints a Markdown table (values in %) or, with --format json, one "
        "JSON object (values in [0, 1]).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="[PRED_DIR] DATASET")
    p.add_argument("--method", choices=METHOD_NAMES, help="run this method instead of reading PRED_DIR")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.add_argument("--plot", metavar="FILE.png", help="per-image IoU histogram and P/R per group")
    p.add_argument("--groups", metavar="CSV", help="grouping CSV with columns name,group (or "
                   "name,family); default: groups.csv / families.csv in a folders dataset")
    p.add_argument("--no-groups", action="store_true", help="ignore any grouping CSV")
    p.add_argument("--save-pred", metavar="DIR", help="with --method: also write its masks here")
    p.add_argument("--limit", type=int, help="score only the first N images (quick checks)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    d = p.add_argument_group("dataset")
    d.add_argument("--layout", choices=LAYOUTS, default="auto")
    d.add_argument("--polarity", choices=("occlusion", "visible"),
                   help="what the dataset masks mark (default: occlusion; visible for realocc)")
    d.add_argument("--split", help="realocc: split name (split/NAME.txt) or split file")
    d.add_argument("--occluder-labels", help="labelme: comma-separated labels that count as "
                   "occluders (default: every label except the face labels)")
    d.add_argument("--face-labels", default="face", help="labelme: labels of the face region")
    d.add_argument("--occluder-classes", help="celebamask: comma-separated classes that count as "
                   "occluders (default: hair,hat,cloth)")
    m = p.add_argument_group("methods")
    m.add_argument("--threshold", type=float, help="diff: ΔE threshold (default 8)")
    m.add_argument("--weights", help="supervised-synth: trained weights file")
    m.add_argument("--train-faces", help="supervised-synth: face photos to train on")
    m.add_argument("--train-occluders", help="supervised-synth: RGBA occluder cut-outs")
    m.add_argument("--holdout", default="sunglasses",
                   help="supervised-synth: comma-separated occluder kinds kept out of training")
    m.add_argument("--train-steps", type=int, help="supervised-synth: optimisation steps")
    m.add_argument("--train-exclude", metavar="REGEX",
                   help="supervised-synth: leave out training faces whose file name matches")
    m.add_argument("--cache-dir", help="supervised-synth: where trained weights are cached")
    try:
        from s3pot.cli.segment import add_pipeline_arguments
    except ImportError:  # pipeline flags come with the segment command
        pass
    else:
        add_pipeline_arguments(p)
    p.set_defaults(func=run)


def _split_list(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _pipeline_config(args: argparse.Namespace):
    if not hasattr(args, "generator"):
        return None
    from s3pot.cli.segment import config_from_args

    return config_from_args(args)


def build_method_from_args(args: argparse.Namespace):
    """The --method object with its options (pipeline flags apply to methods that use faces)."""
    from s3pot.eval.baselines import build_method

    name = args.method
    if name == "empty":
        return build_method(name)
    cfg = _pipeline_config(args)
    if name == "skin":
        return build_method(name, pipeline_config=cfg)
    if name == "diff":
        kw = {"threshold": args.threshold} if args.threshold is not None else {}
        return build_method(name, pipeline_config=cfg, **kw)
    if name == "supervised-synth":
        return build_method(name, weights=args.weights, train_faces=args.train_faces,
                            train_occluders=args.train_occluders,
                            holdout=_split_list(args.holdout) or [], steps=args.train_steps,
                            exclude_regex=args.train_exclude, cache_dir=args.cache_dir,
                            pipeline_config=cfg)
    return build_method(name, pipeline_config=cfg)


def run(args: argparse.Namespace) -> int:
    from s3pot.errors import S3potError
    from s3pot.eval.groups import read_groups
    from s3pot.eval.predictions import FolderPredictions, MethodPredictions
    from s3pot.eval.readers import open_dataset
    from s3pot.eval.report import json_report, markdown_table
    from s3pot.eval.runner import evaluate, stderr_progress

    want = 1 if args.method else 2
    if len(args.paths) != want:
        usage = "s3pot eval --method NAME DATASET" if args.method else "s3pot eval PRED_DIR DATASET"
        raise SystemExit(f"s3pot eval: expected {want} path(s): {usage}")
    if args.save_pred and not args.method:
        raise SystemExit("s3pot eval: --save-pred needs --method")
    note = (lambda m: None) if args.quiet else stderr_progress
    try:
        ds = open_dataset(
            args.paths[-1], args.layout, args.polarity, args.split,
            occluder_labels=_split_list(args.occluder_labels),
            face_labels=_split_list(args.face_labels) or [],
            occluder_classes=_split_list(args.occluder_classes),
        )
        if args.limit is not None:
            ds.samples = ds.samples[: max(args.limit, 0)]
        for line in ds.notes:
            note(f"{ds.layout}: {line}")
        groups = None
        if args.groups and not args.no_groups:
            groups = read_groups(args.groups)
        elif ds.groups_csv is not None and not args.no_groups:
            note(f"groups from {ds.groups_csv}")
            groups = read_groups(ds.groups_csv)
        if args.method:
            method = build_method_from_args(args)
            source = MethodPredictions(method, args.save_pred)
            label = f"method {args.method}"
        else:
            source = FolderPredictions(args.paths[0])
            label = f"predictions {args.paths[0]}"
        result = evaluate(ds, source, groups, progress=note)
    except (S3potError, ValueError) as exc:
        raise SystemExit(f"s3pot eval: {exc}") from None
    title = f"{label} on {Path(args.paths[-1])} ({ds.layout}, {len(ds)} images)"
    info = getattr(source, "method", None) and getattr(source.method, "meta", None)
    extra = {"method_info": info} if info else {}
    if args.format == "json":
        print(json_report(result, dataset=str(args.paths[-1]), layout=ds.layout,
                          source=label, seconds=round(result.seconds, 1), **extra))
    else:
        print(markdown_table(result, title))
        held = (info or {}).get("config", {}).get("holdout")
        if held:
            print(f"Trained with occluder kind(s) {', '.join(held)} held out: their rows "
                  "measure occluders the model never saw.")
    if args.plot:
        from s3pot.eval.plot import plot_result

        plot_result(result, args.plot, title)
        note(f"plot written to {args.plot}")
    sys.stdout.flush()
    return 0
