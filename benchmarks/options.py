"""``KEY=VALUE`` command-line options of the benchmark scripts, as keyword arguments.

Values become int, else float; ``true``/``false`` become booleans; the rest stay strings.
The scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path`` and
they import it as ``options``.
"""

from __future__ import annotations


def parse_options(items: list[str]) -> dict:
    """``["a=1", "b=0.5", "c=x", "d=false"]`` -> ``{"a": 1, "b": 0.5, "c": "x", "d": False}``."""
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        for cast in (int, float, str):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
    return out
