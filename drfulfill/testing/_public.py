"""Every public name of ``drfulfill.testing``, imported eagerly on first use of one of
them (see ``drfulfill.testing.__getattr__``): the pytest plugin lives in this package and
must not import aiohttp.web and the emulator into every pytest run."""

# `X as X`: an explicit re-export for type checkers; one block per module, not isort's
# one per name.
from ._commits import (  # noqa: I001
    LateCommit as LateCommit,
)
from ._emulator import (
    DEFAULT as DEFAULT,
    Emulator as Emulator,
    serve as serve,
)
from ._gateway import (
    Fault as Fault,
)
from ._log import (
    LoggedRequest as LoggedRequest,
)
from ._records import (
    Records as Records,
)
from ._state import (
    Seeded as Seeded,
)
from ._webhooks import (
    WebhookDelivery as WebhookDelivery,
    WebhookEndpoint as WebhookEndpoint,
)
