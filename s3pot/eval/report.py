"""Markdown table and JSON rendering of an :class:`~s3pot.eval.runner.EvalResult`."""

from __future__ import annotations

import json

from s3pot.eval.runner import EvalResult

COLUMNS = (
    ("occluder_iou", "occ IoU"),
    ("mean_iou", "mean IoU"),
    ("precision", "P"),
    ("recall", "R"),
    ("f1", "F1"),
    ("pixel_accuracy", "pix acc"),
    ("face_miou", "face mIoU"),
    ("clean_fp_rate", "clean FP"),
)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100.0 * value:.{digits}f}"


def _row(label: str, m: dict) -> str:
    cells = [label, str(m["n_images"])]
    cells += [pct(m[k], 2 if k == "clean_fp_rate" else 1) for k, _ in COLUMNS]
    return "| " + " | ".join(cells) + " |"


def markdown_table(result: EvalResult, title: str | None = None) -> str:
    """One row for the whole set, then one per group; values in percent, '–' = undefined."""
    head = ["set", "n"] + [h for _, h in COLUMNS]
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    lines.append(_row("all", result.summary))
    for g, m in result.groups.items():
        lines.append(_row(g, m))
    lines.append("")
    lines.append("Values in %. occ IoU pooled over the set; mean IoU over the "
                 f"{result.summary['n_occluded']} images with occlusion; clean FP = flagged share "
                 f"of the face region on the {result.summary['n_clean']} images with empty ground "
                 "truth; '–' = undefined here.")
    return "\n".join(lines)


def json_report(result: EvalResult, **extra: object) -> str:
    """One JSON object: the metric keys, counts, ``groups``, then any ``extra`` context."""
    out = result.to_json()
    out.update(extra)
    return json.dumps(out, indent=1)
