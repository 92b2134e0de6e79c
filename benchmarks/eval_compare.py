"""Compare several methods' saved masks on one dataset: one row per method.

Why: ``s3pot eval`` prints one method at a time; a comparison needs the same set, the same
groups and one table. Save each method's masks once (``s3pot eval --method NAME DATASET
--save-pred DIR``), then::

    python benchmarks/eval_compare.py DATASET empty=DIR1 skin=DIR2 diff=DIR3 ...

prints the overall metrics per method, then the occluder IoU of each method per group.
"""

from __future__ import annotations

import argparse
import sys

from s3pot.eval.groups import read_groups
from s3pot.eval.predictions import FolderPredictions
from s3pot.eval.readers import open_dataset
from s3pot.eval.report import COLUMNS, pct
from s3pot.eval.runner import evaluate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("runs", nargs="+", metavar="LABEL=PRED_DIR")
    p.add_argument("--groups", help="grouping CSV (default: the dataset's own)")
    args = p.parse_args(argv)
    ds = open_dataset(args.dataset)
    groups_csv = args.groups or ds.groups_csv
    groups = read_groups(groups_csv) if groups_csv else None
    results = {}
    for run in args.runs:
        label, _, folder = run.partition("=")
        results[label] = evaluate(ds, FolderPredictions(folder), groups)
    head = ["method"] + [h for _, h in COLUMNS]
    print("| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")
    for label, r in results.items():
        cells = [pct(r.summary[k], 2 if k == "clean_fp_rate" else 1) for k, _ in COLUMNS]
        print("| " + " | ".join([label] + cells) + " |")
    if groups:
        names = sorted({g for r in results.values() for g in r.groups})
        print()
        print("| occ IoU per group | " + " | ".join(names) + " |")
        print("|---" + "|---:" * len(names) + "|")
        for label, r in results.items():
            cells = [pct(r.groups.get(g, {}).get("occluder_iou")) for g in names]
            print("| " + " | ".join([label] + cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
