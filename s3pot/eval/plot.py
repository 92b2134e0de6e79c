"""``--plot``: per-image IoU distribution and precision/recall per group (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s3pot.eval.runner import EvalResult


def plot_result(result: EvalResult, path: str | Path, title: str = "") -> None:
    """Write a two-panel PNG to ``path`` (atomically, through a temporary file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s3pot.image_io import save_bytes

    fig, (ax_hist, ax_pr) = plt.subplots(1, 2, figsize=(11, 4))
    ious = [s.iou for s in result.scores if s.iou is not None]
    if result.groups:
        groups = [g for g in result.groups if any(
            s.iou is not None for s in result.scores if result.group_of.get(s.name) == g)]
        data = [[s.iou for s in result.scores
                 if s.iou is not None and result.group_of.get(s.name) == g] for g in groups]
        if data:
            ax_hist.hist(data, bins=np.linspace(0, 1, 21), stacked=True, label=groups)
            ax_hist.legend(fontsize=7)
    elif ious:
        ax_hist.hist(ious, bins=np.linspace(0, 1, 21))
    ax_hist.set_xlabel("per-image occluder IoU")
    ax_hist.set_ylabel("images")
    ax_hist.set_title(f"IoU distribution (n={len(ious)}, mean={np.mean(ious) if ious else 0:.3f})")

    rows = {"all": result.summary, **result.groups}
    names = list(rows)
    x = np.arange(len(names))
    prec = [rows[n]["precision"] or 0.0 for n in names]
    rec = [rows[n]["recall"] or 0.0 for n in names]
    ax_pr.bar(x - 0.2, prec, 0.4, label="precision")
    ax_pr.bar(x + 0.2, rec, 0.4, label="recall")
    ax_pr.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax_pr.set_ylim(0, 1)
    ax_pr.legend(fontsize=8)
    ax_pr.set_title("precision / recall per group")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    save_bytes(path, buf.getvalue())
