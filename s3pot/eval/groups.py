"""Grouping CSV: which group (occluder family, source, ...) each image belongs to.

Columns: ``name`` and ``group`` (``family`` is accepted too, as the dev benchmark's
families.csv names it); other columns are ignored. Names may carry an image suffix.
"""

from __future__ import annotations

import csv
from pathlib import Path

from s3pot.eval.dataset import DatasetError
from s3pot.image_io import IMAGE_SUFFIXES

GROUP_COLUMNS = ("group", "family")
UNGROUPED = "(ungrouped)"


def read_groups(path: str | Path) -> dict[str, str]:
    """name -> group from a CSV with a header row."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in (reader.fieldnames or [])]
            col = next((c for c in GROUP_COLUMNS if c in fields), None)
            if "name" not in fields or col is None:
                raise DatasetError(path, "grouping CSV needs a header with 'name' and 'group' "
                                   f"(or 'family') columns; found: {', '.join(fields) or 'none'}")
            out: dict[str, str] = {}
            for row in reader:
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                name = row["name"]
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    name = Path(name).stem
                if name:
                    out[name] = row[col] or UNGROUPED
    except FileNotFoundError:
        raise DatasetError(path, "grouping CSV not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(path, f"cannot read grouping CSV ({exc})") from None
    return out
