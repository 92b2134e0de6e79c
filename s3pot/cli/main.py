"""``s3pot`` entry point. Subcommands live in sibling modules and register themselves."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

# Subcommand modules (s3pot.cli.<name>), each exposing register(subparsers).
COMMANDS = ("segment", "video", "parse", "demo", "fit_reference", "train", "weights", "eval", "synth")


def build_parser() -> argparse.ArgumentParser:
    from s3pot import __version__

    parser = argparse.ArgumentParser(
        prog="s3pot", description="Face occlusion segmentation (S³POT): masks of whatever covers a face."
    )
    parser.add_argument("--version", action="version", version=f"s3pot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"s3pot.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"s3pot.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Silence mediapipe / TFLite chatter on stderr; our own messages stay.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():  # restored on return (main is also called in-process)
        warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("s3pot: interrupted", file=sys.stderr)
            return 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """On the command line a warning is one line for the user, not a source location."""
    print(f"s3pot: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
