"""PEP 562 lazy exports, shared by ``drfulfill`` and ``drfulfill.testing``.

Each package names its public API in ``__all__`` and imports it eagerly in its ``_public``
module, loaded on the first access to one of the names: the pytest plugin, which pytest
imports in every project that has drfulfill installed, then pulls in none of aiohttp,
cattrs, tenacity or the emulator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any


def lazy_exports(
    package: str, names: Sequence[str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` serving ``names`` from ``package._public``."""
    exported = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name in exported:
            value = getattr(importlib.import_module(f"{package}._public"), name)
            namespace[name] = value  # later accesses skip __getattr__
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *exported})

    return __getattr__, __dir__
