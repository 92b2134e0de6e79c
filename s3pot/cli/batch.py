"""Batch runner shared by the subcommands that process photos.

What a batch promises: a progress bar, a bad file reported on one line and skipped (the
batch goes on), outputs written atomically, ``--skip-existing`` to resume, a summary at the
end, and a non-zero exit status when any input failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3pot.cli.workers import Process, attempt, run_parallel
from s3pot.image_io import VIDEO_PREVIEW_SUFFIX, describe_unreadable, find_images


@dataclass
class BatchSummary:
    photos: int = 0
    faces: int = 0
    no_face: list[str] = field(default_factory=list)
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    at_limit: list[str] = field(default_factory=list)  # photos where --max-faces was reached
    max_faces: int = 0
    unreadable: str = ""  # files left out of folders for their format (describe_unreadable)

    def lines(self) -> list[str]:
        out = [
            f"photos: {self.photos} processed, {self.skipped} skipped (existing), "
            f"{len(self.failures)} failed",
            f"faces found: {self.faces}; photos without a face: {len(self.no_face)}",
        ]
        out += [f"  no face: {name}" for name in self.no_face]
        out += [f"  face limit reached (--max-faces {self.max_faces}), more faces may be there: {name}"
                for name in self.at_limit]
        out += [f"  failed: {name}: {why}" for name, why in self.failures]
        if self.unreadable:
            out.append(f"  not read: {self.unreadable}")
        return out


# Images the batch commands write (segment, parse, demo). Found in a folder, they are
# outputs of an earlier run, not photos.
OUTPUT_SUFFIXES = (".occlusion.png", ".overlay.jpg", ".visible.png", ".parsing.png", ".reference.png")


def earlier_outputs(paths: list[Path], inputs: list[str]) -> list[Path]:
    """The paths, found in folders or by patterns, that are named like s3pot outputs.

    ``s3pot segment photos/ -o photos/`` run twice would otherwise segment its own masks
    and overlays (``a.occlusion.occlusion.png``), more of them on every run. A file named
    on the command line is always processed."""
    named = {Path(i).resolve() for i in inputs if Path(i).is_file()}
    return [p for p in paths if p.name.endswith(OUTPUT_SUFFIXES) and p.resolve() not in named]


def output_stem(path: Path, root: Path | None, outdir: Path) -> Path:
    """OUTDIR/<relative path without suffix>: folders keep their structure, so two
    photos with the same name in different subfolders do not overwrite each other."""
    rel = path.resolve().relative_to(root) if root is not None else Path(path.name)
    return outdir / rel.with_suffix("")


def unique_stems(paths: list[Path], roots: list[Path], outdir: Path) -> list[Path]:
    """One output stem per input, never shared: ``photo.jpg`` and ``photo.png`` in one folder
    (or two ``x.jpg`` given from different folders) would otherwise write the same
    ``photo.occlusion.png``, the second silently replacing the first. Colliding inputs keep
    their suffix in the stem (``photo.jpg.occlusion.png``); if that still collides, a
    counter is added (``x-2``)."""
    plain = [output_stem(p, _root_of(p, roots), outdir) for p in paths]
    n_plain = Counter(plain)
    suffixed = [s.with_name(s.name + p.suffix.lower()) if n_plain[s] > 1 else s
                for s, p in zip(plain, paths, strict=True)]
    n_suffixed = Counter(suffixed)
    wanted = [x if n_suffixed[x] == 1 else s for s, x in zip(plain, suffixed, strict=True)]
    taken: set[Path] = set()
    out = []
    for s in wanted:
        u, k = s, 1
        while u in taken:
            k += 1
            u = s.with_name(f"{s.name}-{k}")
        taken.add(u)
        out.append(u)
    return out


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--max-faces 0`` would find no face, silently)."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a frame index)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--skip-existing", action="store_true", help="skip photos whose outputs exist (resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N",
                   help="photos processed in parallel by N worker processes (each loads its "
                        "own models and keeps up to ~2 cores busy; pays with more than 2 cores)")


def run_batch(
    args: argparse.Namespace,
    make_process: Callable[[argparse.Namespace], Process],
    expected_outputs: Callable[[Path], list[Path]],
) -> int:
    """Run ``make_process(args)(photo, stem) -> faces found`` over every input; return an
    exit code.

    ``make_process`` builds the models and returns the per-photo function. It runs once
    here, before any photo (a missing model fails once, early), and once in every worker
    with ``--jobs`` > 1, so it must be a module-level function.
    """
    from tqdm import tqdm

    outdir = usable_output_folder(args.output)
    if outdir is None:
        return 2
    process: Process | None = make_process(args)
    unreadable: list[Path] = []
    paths, problems = find_images(args.inputs, unreadable)
    ours = earlier_outputs(paths, args.inputs)
    if ours:
        skip = set(ours)
        paths = [p for p in paths if p not in skip]
        plural = "s" if len(ours) != 1 else ""
        print(f"s3pot: left out {len(ours)} file{plural} named like s3pot outputs "
              f"({', '.join('*' + s for s in OUTPUT_SUFFIXES)}); name them as files to process them",
              file=sys.stderr)
    listed = ""
    # Previews `s3pot video` wrote into a folder are its outputs, not videos to report.
    unreadable = [p for p in unreadable if not p.name.endswith(VIDEO_PREVIEW_SUFFIX)]
    if unreadable:
        listed = describe_unreadable(unreadable)
        print(f"s3pot: left out {listed}; first: {unreadable[0]}", file=sys.stderr)
    roots = _roots(args.inputs)
    summary = BatchSummary(failures=[(name, why) for name, why in problems],
                           max_faces=getattr(args, "max_faces", 0) or 0, unreadable=listed)
    for name, why in problems:
        print(f"s3pot: {name}: {why}", file=sys.stderr)
    tasks = []
    for path, stem in zip(paths, unique_stems(paths, roots, outdir), strict=True):
        if args.skip_existing and all(p.exists() for p in expected_outputs(stem)):
            summary.skipped += 1
        else:
            tasks.append((path, stem))
    bar = tqdm(total=len(tasks), unit="photo", disable=args.quiet or not tasks,
               file=sys.stderr, dynamic_ncols=True)
    jobs = min(getattr(args, "jobs", 1) or 1, len(tasks))
    if jobs > 1:
        process = None  # the workers build their own; free the parent's models
        outcomes = run_parallel(jobs, make_process, args, tasks)
    else:
        outcomes = ((path, attempt(process, path, stem)) for path, stem in tasks)
    for path, (n, failure) in outcomes:
        bar.update()
        if failure is not None:
            summary.failures.append(failure[:2])
            if failure[2]:
                tqdm.write(failure[2], file=sys.stderr)
            continue
        summary.photos += 1
        summary.faces += n
        if n == 0:
            summary.no_face.append(str(path))
        elif summary.max_faces and n >= summary.max_faces:
            summary.at_limit.append(str(path))
    bar.close()
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.failures else 0


def usable_output_folder(path: str, prog: str = "s3pot") -> Path | None:
    """``path`` as the output folder, or None after saying in one line why it cannot be
    one (the caller then exits with status 2, before any input is read)."""
    outdir = Path(path)
    unusable = output_folder_problem(outdir)
    if unusable:
        print(f"{prog}: {outdir}: {unusable}", file=sys.stderr)
        return None
    return outdir


def output_folder_problem(outdir: Path) -> str | None:
    """Why ``outdir`` cannot hold the outputs (checked once, before any photo), or None.

    The folder itself is created by the first output written, not here: a batch whose
    inputs all fail leaves nothing behind.
    """
    if outdir.exists():
        if not outdir.is_dir():
            return "exists and is not a folder (-o takes a folder)"
        return None if os.access(outdir, os.W_OK | os.X_OK) else "output folder is not writable"
    parent = outdir.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create the output folder ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create the output folder ({parent} is not writable)"
    return None


def _roots(inputs: list[str]) -> list[Path]:
    return [Path(i).resolve() for i in inputs if Path(i).is_dir()]


def _root_of(path: Path, roots: list[Path]) -> Path | None:
    rp = path.resolve()
    for r in roots:
        if rp.is_relative_to(r):
            return r
    return None
