"""A stateful Digital River emulator for tests, demos and benchmarks.

``async with Emulator() as emu:`` serves the Fulfillments and Fulfillment Returns APIs on
``emu.url`` (127.0.0.1, a free port). ``python -m drfulfill.testing`` runs one standalone.
For pytest, the ``drfulfill`` plugin provides the ``dr_emulator`` and ``dr_client`` fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# ruff: noqa: F405 - __all__ names what ``_public`` imports (a star import, for type checkers)

if TYPE_CHECKING:
    from ._public import *  # noqa: F403

__all__ = [
    "DEFAULT",
    "Emulator",
    "Fault",
    "LateCommit",
    "LoggedRequest",
    "Records",
    "Seeded",
    "WebhookDelivery",
    "WebhookEndpoint",
    "serve",
]


if not TYPE_CHECKING:  # type checkers see the star import above, not this

    def __getattr__(name: str) -> Any:
        # PEP 562: the public names are imported on first use (see ``_public``).
        if name in __all__:
            from . import _public

            value = getattr(_public, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
