"""A scriptable HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose (raw asyncio).

Each test gives it ``respond(request, writer)``: it writes whatever bytes it likes (an echo
of the request headers, an endless chunked body, a lying Content-Length, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator

import attrs


@attrs.frozen
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


Respond = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def http_response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A complete response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} X"]
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> bytes:
    return http_response(status, json.dumps(payload).encode(), headers)


async def stream_forever(writer: asyncio.StreamWriter, head: bytes, chunk: bytes) -> None:
    """``head`` then ``chunk`` again and again until the client hangs up."""
    writer.write(head)
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(chunk)
            await writer.drain()


class HostileServer:
    """``async with HostileServer(respond) as server:`` then ``server.url``, ``server.requests``."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body)
                self.requests.append(request)
                await self.respond(request, writer)
                if writer.is_closing():
                    return
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


@contextlib.contextmanager
def serve_in_thread(respond: Respond) -> Iterator[HostileServer]:
    """A HostileServer running in its own thread and event loop, for tests that run
    several event loops of their own (``asyncio.run`` twice)."""
    loop = asyncio.new_event_loop()
    server = HostileServer(respond)
    ready = threading.Event()
    stop = asyncio.Event()  # binds to the thread's loop on first use

    async def main() -> None:
        async with server:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()
