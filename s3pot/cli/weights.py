"""``s3pot weights list | download NAME | verify [NAME...]``: the model files s3pot can use."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights",
        help="list, download and verify model files",
        description="Model files live in $S3POT_HOME (default ~/.cache/s3pot) unless --dir is given. "
        "Downloads resume where they stopped and are checked against their SHA-256.",
    )
    p.add_argument("--dir", help="folder holding the files (default: $S3POT_HOME or ~/.cache/s3pot)")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.add_parser("list", help="known files and whether they are present")
    d = wsub.add_parser("download", help="fetch a file (resumable, checksum-verified)")
    d.add_argument("name", metavar="NAME")
    d.add_argument("--url", help="alternative URL (a mirror) for the same file")
    v = wsub.add_parser("verify", help="check present files against size and SHA-256")
    v.add_argument("names", metavar="NAME", nargs="*", help="default: every present file")
    p.set_defaults(func=run, _parser=p)


def run(args: argparse.Namespace) -> int:
    from s3pot import weights as w

    cmd = args.weights_command
    if cmd is None:
        args._parser.print_help()
        return 2
    try:
        if cmd == "list":
            width = max((len(name) for name in w.CATALOG), default=0)
            for wf in w.CATALOG.values():
                path = w.local_path(wf, args.dir)
                state = "present" if path.is_file() else "missing"
                size = f"{wf.size / 1e6:,.0f} MB" if wf.size else "?"
                print(f"{wf.name:<{width}}  {wf.filename:<26} {size:>9}  {state:<8} {wf.description}")
            print(f"folder: {w.local_path(next(iter(w.CATALOG.values())), args.dir).parent}" if w.CATALOG else "")
            return 0
        if cmd == "download":
            wf = w.get(args.name)
            path = w.download(wf, args.dir, url=args.url, progress=w.print_progress)
            sys.stderr.write("\n")
            print(f"{wf.name}: {path}")
            return 0
        if cmd == "verify":
            names = args.names or [n for n, wf in w.CATALOG.items() if w.local_path(wf, args.dir).is_file()]
            if not names:
                print("no model files present")
                return 0
            bad = 0
            for name in names:
                wf = w.get(name)
                ok, why = w.verify(wf, w.local_path(wf, args.dir))
                bad += not ok
                print(f"{name:<14} {'OK' if ok else 'FAIL'}  {why}")
            return 1 if bad else 0
    except w.WeightsError as exc:
        sys.stderr.write("\n" if cmd == "download" else "")
        print(f"s3pot weights: {exc}", file=sys.stderr)
        return 1
    return 2
