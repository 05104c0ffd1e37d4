"""The aiohttp session a client and its views send through, and its lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import aiohttp

from ._wire import proxy_from_env
from .errors import DigitalRiverError


class SessionPool:
    """The aiohttp session a client and all its views (``with_options``) send through.

    A caller-owned session is used as it is and never closed. Our own session is made on
    first use, inside the running loop (aiohttp binds a session to its loop), and closed by
    ``close()`` or, at the latest, when that loop shuts down its async generators
    (``asyncio.run`` does, as it ends): a client used by ``asyncio.run`` per job closes each
    job's session in that job's loop and makes a new one in the next. When our session is
    made, ``env_proxy`` is set to the proxy that ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
    name for ``base_url`` (a caller's session keeps its own ``trust_env``).
    """

    def __init__(
        self, session: aiohttp.ClientSession | None, connection_limit: int, base_url: str
    ) -> None:
        self._caller_session = session
        self._base_url = base_url
        self.env_proxy: str | None = None
        self._session: aiohttp.ClientSession | None = None  # our own, made on first use
        self._session_loop: asyncio.AbstractEventLoop | None = None  # that it belongs to
        self._keeper: AsyncGenerator[None, None] | None = None  # closes it with its loop
        self._connection_limit = connection_limit
        self.closed = False

    def get(self) -> aiohttp.ClientSession:
        if self.closed:
            raise DigitalRiverError("the Client is closed")
        if self._caller_session is not None:
            return self._caller_session
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and (self._session_loop is not loop or session.closed):
            if not session.closed:
                # Made in a loop that is still open but not this one (two loops in turn):
                # its connections cannot be closed from here. detach() drops them without
                # touching that loop, and marks the session closed.
                session.detach()
            session = self._session = self._keeper = None
        if session is None:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                raise_for_status=False,
            )
            self._session_loop = loop
            self._keeper = _close_with_its_loop(session)
            self.env_proxy = proxy_from_env(self._base_url)
        return session

    async def close(self) -> None:
        """Close our own session; a caller's session is left open. Safe to call twice."""
        self.closed = True
        session, keeper = self._session, self._keeper
        self._session = self._keeper = None
        if session is None:
            return
        if self._session_loop is asyncio.get_running_loop() and keeper is not None:
            await keeper.aclose()  # closes the session
        elif not session.closed:
            session.detach()


def _close_with_its_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """An async generator, started at once, that closes ``session`` when it is closed: by
    ``aclose()``, or by the running loop's ``shutdown_asyncgens()`` (``asyncio.run`` calls it
    as it ends, while the loop can still close connections), or when it is dropped while
    that loop runs. The loop learns of it as it starts (asyncio's async generator hooks)."""

    async def keep() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await session.close()

    keeper = keep()
    try:
        keeper.asend(None).send(None)  # run to the first yield: nothing there awaits
    except StopIteration:
        pass
    return keeper
