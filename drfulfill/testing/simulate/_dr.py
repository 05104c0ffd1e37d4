"""Digital River in process, for the simulation: the emulator's store behind a stand-in for
``aiohttp.ClientSession`` that a ``Client`` is given as ``session=``.

Every request travels (a latency up), is handled by DR at its arrival (the emulator's
``EmulatorState``: the same validation, quantities, lists and read lag as ``drfulfill
emulator``), and its answer travels back; faults drawn from the run's random generator make
DR answer 5xx or 429, drop the connection, commit a create late, or answer only after the
client's timeout. Each ``POST`` is recorded (when it was sent, applied, visible in lists, and
when the client saw its failure), which is what the invariants are checked against.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from .._errors import ErrorReply, error_body
from .._state import EmulatorState

Outcome = tuple[int, Any, dict[str, str]]  # status, JSON body, headers
_DROP: Outcome = (0, None, {})  # the connection is closed with no answer


@dataclass
class DRFaults:
    """What can go wrong at DR in one run; each chance is per request."""

    server_error: float = 0.0  # 500/502/503 (some with Retry-After), nothing applied
    rate_limited: float = 0.0  # 429 with Retry-After, nothing applied
    dropped: float = 0.0  # the connection drops before DR applied anything
    commit_then_drop: float = 0.0  # applied, then the connection drops
    late_commit: float = 0.0  # a create applied after its answer (504, drop or timeout)
    late_commit_max: float = 0.0  # seconds a late commit may come after the answer
    slow_answer: float = 0.0  # a late commit answered only after this long (a gateway)
    read_lag: float = 0.0  # seconds before a new fulfillment shows in lists
    retry_after_max: int = 5  # the longest Retry-After (429, 503) DR answers, seconds
    window: float = 10.0  # the clients' settle window
    near_window: float = 0.0  # chance a late commit lands about as that window ends
    latency: tuple[float, float] = (0.005, 0.05)  # one way, seconds


@dataclass
class Post:
    """One ``POST /fulfillments`` as DR and the client saw it."""

    key: str | None
    sent_at: float
    timeout: float | None
    sender: str  # the client that sent it (a worker, an upload run)
    applied_at: float | None = None  # when DR created it (None: never)
    answered_ok: bool = False  # the client received its 201
    seen_at: float | None = None  # when the client saw it fail, or gave up on it
    fulfillment_id: str | None = None

    def failure_seen(self) -> float | None:
        """When its failure was seen; for a sender that vanished, the end of its timeout."""
        if self.answered_ok:
            return None
        if self.seen_at is not None:
            return self.seen_at
        return None if self.timeout is None else self.sent_at + self.timeout


@dataclass
class Counts:
    posts: int = 0
    lists: int = 0
    retrieves: int = 0

    @property
    def total(self) -> int:
        return self.posts + self.lists + self.retrieves


class SimulatedDR:
    """The emulator's store on virtual time, with a fault schedule and a record of posts."""

    def __init__(
        self,
        rng: random.Random,
        faults: DRFaults,
        *,
        epoch: datetime,
        skew: float,
        trace: Callable[..., None],
    ) -> None:
        self._rng = rng
        self.faults = faults
        self._epoch = epoch
        self._skew = skew
        self._trace = trace
        self.state = EmulatorState(clock=self.now, seed=rng.randrange(2**31))
        self.state.read_lag = faults.read_lag
        self.posts: list[Post] = []
        self.counts = Counts()
        self.calm = False  # no new faults (the run's last phase)

    def now(self) -> datetime:
        """DR's clock: the run's epoch plus virtual time, off by ``skew`` seconds."""
        loop = asyncio.get_running_loop()
        return self._epoch + timedelta(seconds=loop.time() + self._skew)

    def session(self, owner: str) -> SimulatedSession:
        return SimulatedSession(self, owner)

    def latency(self) -> float:
        low, high = self.faults.latency
        return self._rng.uniform(low, high)

    def _chance(self, p: float) -> bool:
        return not self.calm and p > 0 and self._rng.random() < p

    def handle(
        self, method: str, path: str, query: list[tuple[str, str]], body: Any, post: Post | None
    ) -> tuple[Outcome, float]:
        """DR's answer to a request arriving now, and how long DR takes to answer it."""
        faults = self.faults
        took = self.latency()
        if self._chance(faults.rate_limited):
            return (
                429,
                error_body(429, "too_many_requests", "Too many requests."),
                {"Retry-After": str(self._rng.choice((1, 1, 2, 3)))},
            ), took
        if self._chance(faults.server_error):
            status = self._rng.choice((500, 502, 503))
            headers = {"Retry-After": "1"} if status == 503 and self._rng.random() < 0.5 else {}
            return (status, error_body(status, "unknown_error", "Injected."), headers), took
        if self._chance(faults.dropped):
            return _DROP, took
        if post is not None:
            return self._create(body, post, took)
        return self._read(method, path, query), took

    def _create(self, body: Any, post: Post, took: float) -> tuple[Outcome, float]:
        faults = self.faults
        if self._chance(faults.late_commit):
            # DR's backend commits ``delay`` seconds after its gateway answered (or dropped
            # the connection, or kept it past the client's timeout).
            answer = self._rng.choice(("504", "503", "drop", "slow"))
            if answer == "slow":
                took = faults.slow_answer
            retry_after = self._rng.randint(1, faults.retry_after_max)
            delay = self._rng.uniform(0, faults.late_commit_max)
            if self._rng.random() < faults.near_window:
                # Right where the client decides: as its settle window ends, or while it
                # waits out the Retry-After that follows.
                delay = faults.window * self._rng.uniform(0.9, 1.1)
                delay += self._rng.uniform(0, retry_after if answer == "503" else 1)
            asyncio.get_running_loop().call_later(took + delay, self._apply, body, post)
            if answer == "503":
                retry = {"Retry-After": str(retry_after)}
                return (503, error_body(503, "service_unavailable", "Injected."), retry), took
            if answer == "drop":
                return _DROP, took
            return (504, error_body(504, "gateway_timeout", "Injected."), {}), took
        outcome = self._apply(body, post)
        if self._chance(faults.commit_then_drop):
            return _DROP, took
        return outcome, took

    def _apply(self, body: Any, post: Post) -> Outcome:
        try:
            fulfillment = self.state.create_fulfillment(body, live=False)
        except ErrorReply as refused:
            self._trace("dr", "refused", post.key, f"{refused.status} {refused.code}")
            return refused.status, refused.body(), {}
        post.applied_at = asyncio.get_running_loop().time()
        post.fulfillment_id = fulfillment["id"]
        self._trace("dr", "applied", post.key, fulfillment["id"])
        return 201, fulfillment, {}

    def _read(self, method: str, path: str, query: list[tuple[str, str]]) -> Outcome:
        try:
            if method == "GET" and path == "/fulfillments":
                self.counts.lists += 1
                return 200, self.state.list_fulfillments(query), {}
            if method == "GET" and path.startswith("/fulfillments/"):
                self.counts.retrieves += 1
                return 200, self.state.retrieve_fulfillment(unquote(path.split("/", 2)[2])), {}
        except ErrorReply as refused:
            return refused.status, refused.body(), {}
        return 404, error_body(404, "not_found", f"No route {method} {path}"), {}


class SimulatedSession:
    """The part of ``aiohttp.ClientSession`` drfulfill's funnel uses, over ``SimulatedDR``."""

    def __init__(self, dr: SimulatedDR, owner: str) -> None:
        self._dr = dr
        self.owner = owner
        self.dead = False  # a crashed process: nothing it asks for is sent any more
        # Called just after each of this session's creates went out (a crash mid-send).
        self.on_post: Callable[[], None] | None = None
        self.closed = False
        self.never = asyncio.Event()  # what a dead process's requests wait for

    def request(
        self,
        method: str,
        url: Any,
        *,
        data: bytes | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        **_: Any,
    ) -> _Exchange:
        return _Exchange(self, method, str(url), data, None if timeout is None else timeout.total)

    async def close(self) -> None:
        self.closed = True


class _Exchange:
    def __init__(
        self,
        session: SimulatedSession,
        method: str,
        url: str,
        data: bytes | None,
        timeout: float | None,
    ) -> None:
        self._session = session
        self._method = method
        self._url = url
        self._data = data
        self._timeout = timeout

    async def __aenter__(self) -> _Response:
        session, dr = self._session, self._session._dr
        loop = asyncio.get_running_loop()
        if session.dead:
            await session.never.wait()  # a dead process sends nothing, ever
        parts = urlsplit(self._url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        body = None if self._data is None else json.loads(self._data)
        post = None
        if self._method == "POST" and parts.path == "/fulfillments":
            key = ((body or {}).get("metadata") or {}).get("drfulfillKey")
            post = Post(key, loop.time(), self._timeout, session.owner)
            dr.posts.append(post)
            dr.counts.posts += 1
            dr._trace(session.owner, "post sent", key, f"timeout {self._timeout}")
            if session.on_post is not None:
                loop.call_soon(session.on_post)
        answer: asyncio.Future[Outcome] = loop.create_future()

        def arrive() -> None:
            outcome, took = dr.handle(self._method, parts.path, query, body, post)
            loop.call_later(took + dr.latency(), deliver, outcome)

        def deliver(outcome: Outcome) -> None:
            if not answer.done():
                answer.set_result(outcome)

        loop.call_later(dr.latency(), arrive)
        try:
            status, payload, headers = await asyncio.wait_for(asyncio.shield(answer), self._timeout)
        except BaseException:
            if post is not None:
                post.seen_at = loop.time()
                dr._trace(session.owner, "post given up", post.key, "timeout or cancelled")
            raise
        if post is not None:
            if status == 201:
                post.answered_ok = True
            else:
                post.seen_at = loop.time()
            dr._trace(session.owner, "post answered", post.key, str(status or "dropped"))
        if status == 0:
            raise aiohttp.ServerDisconnectedError()
        return _Response(status, payload, headers)

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Response:
    """What ``read_capped`` and the funnel read of an ``aiohttp.ClientResponse``."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self.status = status
        self._body = json.dumps(payload).encode()
        fields = {"Content-Type": "application/json", **headers}
        self.headers = CIMultiDictProxy(CIMultiDict(fields))
        self.content_length = len(self._body)

    async def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        return None
