"""benchmarks/compare_trees.py: two trees timed in turn, bad inputs refused with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "compare_trees.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_a_folder_that_is_not_a_tree_is_refused(tmp_path: Path) -> None:
    out = _run(str(tmp_path), str(ROOT), str(tmp_path))
    assert out.returncode == 2
    assert "not an s3pot source tree" in out.stderr and str(tmp_path) in out.stderr


def test_the_same_tree_twice_times_every_readable_photo(tmp_path: Path, astronaut: np.ndarray) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = _run(str(ROOT), str(ROOT), str(photos), "--repeats", "2")
    assert out.returncode == 0, out.stderr
    assert "broken.jpg" in out.stderr  # reported and skipped, the run goes on
    row = next(line for line in out.stdout.splitlines() if line.startswith("| astronaut.png"))
    a_ms, b_ms, ratio = (float(v) for v in row.strip("|").split("|")[1:])
    assert a_ms > 0 and b_ms > 0 and abs(ratio - b_ms / a_ms) < 0.01
    assert "B/A over 1 photos" in out.stdout
