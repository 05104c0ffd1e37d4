"""A real ``redis-server`` on a free 127.0.0.1 port, for the coordinator's tests.

Without the binary the tests are skipped, unless ``DRFULFILL_REQUIRE_REDIS=1`` (set by
.ci/run, which installs it) turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest.importorskip("redis", reason="the redis extra is not installed: pip install -e '.[test]'")

from redis.asyncio import Redis

from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

BINARY = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; ``stop`` (SIGKILL) and ``start`` keep the port, and with
    ``persist`` the data too (an append-only file synced on every write)."""

    def __init__(self, directory: Path, *, persist: bool = False) -> None:
        self.persist = persist
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert BINARY is not None
        self._process = subprocess.Popen(
            [
                BINARY,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *(("--appendonly", "yes", "--appendfsync", "always") if self.persist else ()),
                "--dir",
                str(self._directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:  # readiness, not timing: the port answers once the server listens
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _server(tmp: Path, *, persist: bool = False) -> Iterator[RedisServer]:
    if BINARY is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("DRFULFILL_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(tmp, persist=persist)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server shared by the session; ``redis_url`` empties it for each test."""
    yield from _server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, which it may stop and start."""
    yield from _server(tmp_path)


@pytest.fixture
def persistent_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own that keeps its data when it is killed and started."""
    yield from _server(tmp_path, persist=True)


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> AsyncIterator[str]:
    async with Redis.from_url(redis_server.url) as client:
        await client.flushall()
    yield redis_server.url


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the shared server, to look at what the coordinator wrote."""
    async with Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
async def coordinators(redis_url: str) -> AsyncIterator[list[RedisCoordinator]]:
    """Four coordinators, each with its own connection pool: four "processes"."""
    made = [RedisCoordinator(redis_url) for _ in range(4)]
    yield made
    for coordinator in made:
        await coordinator.close()


class SilentRedis:
    """A server that accepts connections, reads what it is sent and never answers: a Redis
    that hangs (a stuck server, a half-open link, a proxy whose backend is gone)."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()  # a client closed its connection
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.connected.set()
            self._writers.append(writer)
            try:
                while await reader.read(65536):
                    pass
            except ConnectionError:
                pass
            self.disconnected.set()

        self._server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent_redis() -> AsyncIterator[SilentRedis]:
    server = SilentRedis()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator with no rate limit (a test may define its own ``emu``)."""
    async with Emulator(rate_limit=None) as emulator:
        yield emulator
