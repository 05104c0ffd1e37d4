"""The ``drfulfill`` command line. It needs the ``cli`` extra (click and rich):
``pip install 'drfulfill[cli]'``. Importing ``drfulfill`` never imports this package."""

from __future__ import annotations

import sys
from collections.abc import Sequence

INSTALL_HINT = "The drfulfill command needs click and rich: pip install 'drfulfill[cli]'"


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``drfulfill``)."""
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2) from None
    from ._app import cli

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="drfulfill")
    except BrokenPipeError:  # `drfulfill fulfillments list | head`
        sys.stderr.close()
        raise SystemExit(1) from None
