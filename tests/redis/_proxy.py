"""A TCP proxy in front of redis-server whose link can be cut (one worker's partition) or
slowed (a congested network, a Redis under load)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Coroutine


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; ``cut()`` aborts every connection and
    refuses new ones (the rest of the fleet still reaches Redis directly). Each reply of
    Redis arrives ``reply_delay`` seconds late (0: at once); requests are never delayed, so
    a command is applied at once and answered late."""

    def __init__(self, upstream_port: int, reply_delay: float = 0.0) -> None:
        self._upstream_port = upstream_port
        self.reply_delay = reply_delay
        self._listener: socket.socket | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.is_cut = False
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> CuttableProxy:
        # A plain listening socket accepted by a task of ours (not asyncio.start_server):
        # every accepted connection is in our hands from the moment it is accepted, so
        # none can outlive the proxy half set up.
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept(self._listener))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert self._listener is not None
        self._listener.close()

    def cut(self) -> None:
        self.is_cut = True
        for writer in self._writers:
            writer.transport.abort()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # awaited at exit, so no connection outlives the proxy
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            if self.is_cut:
                conn.close()
                continue
            self._spawn(self._handle(conn))

    async def _handle(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
        except BaseException:
            conn.close()
            raise
        self._writers.append(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        self._writers.append(up_writer)
        if self.is_cut:  # cut while connecting
            self.cut()
            return
        self._spawn(self._pipe(reader, up_writer, replies=False))
        self._spawn(self._pipe(up_reader, writer, replies=True))

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, replies: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                if replies and self.reply_delay:
                    await asyncio.sleep(self.reply_delay)
                if self.is_cut:
                    break
                sink.write(data)
                await sink.drain()
        sink.transport.abort()
