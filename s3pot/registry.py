"""Backends chosen by name (``build_parser("landmarks")``, ``build_generator("pca")``).

Each task folder (parsing/, reference/, segmenters/) keeps a :class:`Registry`; a backend
module registers a builder under a short name. Builders are imported lazily so that naming
a light backend never imports a heavy one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> "module:attr" builder path, resolved on first use."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def builder(self, name: str) -> Callable[..., T]:
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} '{name}' (choose from: {', '.join(self.names())})")
        module, attr = self._entries[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, name: str, **kwargs: Any) -> T:
        return self.builder(name)(**kwargs)
