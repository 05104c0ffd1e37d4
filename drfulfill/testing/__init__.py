"""A stateful Digital River emulator for tests, demos and benchmarks.

``async with Emulator() as emu:`` serves the Fulfillments and Fulfillment Returns APIs on
``emu.url`` (127.0.0.1, a free port). ``python -m drfulfill.testing`` runs one standalone.
For pytest, the ``drfulfill`` plugin provides the ``dr_emulator`` and ``dr_client`` fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

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
    __getattr__, __dir__ = lazy_exports(__name__, __all__, globals())
