"""Every public name of ``drfulfill.testing``, imported eagerly on first use of one of
them (see ``drfulfill.testing.__getattr__``): the pytest plugin lives in this package and
must not import aiohttp.web and the emulator into every pytest run."""

# `X as X`: an explicit re-export for type checkers; one block per module, not isort's
# one per name.
from ._emulator import (  # noqa: I001
    DEFAULT as DEFAULT,
    Emulator as Emulator,
    LoggedRequest as LoggedRequest,
    serve as serve,
)
from ._gateway import (
    Fault as Fault,
)
from ._state import (
    Records as Records,
    Seeded as Seeded,
)
