"""A stateful Digital River emulator for tests, demos and benchmarks.

``async with Emulator() as emu:`` serves the Fulfillments and Fulfillment Returns APIs on
``emu.url`` (127.0.0.1, a free port). ``python -m drfulfill.testing`` runs one standalone.
For pytest, the ``drfulfill`` plugin provides the ``dr_emulator`` and ``dr_client`` fixtures.
"""

from ._commits import LateCommit
from ._emulator import DEFAULT, Emulator, serve
from ._gateway import Fault
from ._log import LoggedRequest
from ._records import Records
from ._state import Seeded
from ._webhooks import WebhookDelivery, WebhookEndpoint

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
