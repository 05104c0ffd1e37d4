"""The aiohttp session a client and its views send through, and its lifecycle."""

from __future__ import annotations

import asyncio

import aiohttp

from ._wire import proxy_from_env
from .errors import DigitalRiverError


class SessionPool:
    """The aiohttp session a client and all its views (``with_options``) send through.

    A caller-owned session is used as it is and never closed. Our own session is made on
    first use, inside the running loop (aiohttp binds a session to its loop), made again
    when a later call runs in another loop (``asyncio.run`` twice), and closed by
    ``close()``. When our session is made, ``env_proxy`` is set to the proxy that
    ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` name for ``base_url`` (a caller's session
    keeps its own ``trust_env``).
    """

    def __init__(
        self, session: aiohttp.ClientSession | None, connection_limit: int, base_url: str
    ) -> None:
        self._caller_session = session
        self._base_url = base_url
        self.env_proxy: str | None = None
        self._session: aiohttp.ClientSession | None = None  # our own, made on first use
        self._session_loop: asyncio.AbstractEventLoop | None = None  # that it belongs to
        self._connection_limit = connection_limit
        self.closed = False

    def get(self) -> aiohttp.ClientSession:
        if self.closed:
            raise DigitalRiverError("the Client is closed")
        if self._caller_session is not None:
            return self._caller_session
        loop = asyncio.get_running_loop()
        if self._session is not None and self._session_loop is not loop:
            # Made in an earlier loop (asyncio.run twice): its connections belong to that
            # loop and cannot be closed from this one. detach() drops them without
            # touching the old loop, and marks the session closed.
            self._session.detach()
            self._session = None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                raise_for_status=False,
            )
            self._session_loop = loop
            self.env_proxy = proxy_from_env(self._base_url)
        return self._session

    async def close(self) -> None:
        """Close our own session; a caller's session is left open. Safe to call twice."""
        self.closed = True
        if self._session is not None:
            session, self._session = self._session, None
            if self._session_loop is asyncio.get_running_loop():
                await session.close()
            else:
                session.detach()
