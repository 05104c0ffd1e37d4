"""One simulated run: a fleet of workers and a bulk upload against DR and Redis, from a seed.

The run draws its faults from the seed, lets the workers take messages from an
at-least-once queue and create one fulfillment per message (``key=`` the message id), and
runs a bulk upload (with or without journal and ``since``), while faults happen: late
commits, slow gateways, dropped answers, 5xx and 429, lagging lists, per-message timeouts,
redelivery, worker crashes, a worker cut off from Redis, Redis flushed, DR's clock skewed.
A calm phase follows (no new faults, links healed, crashed workers restarted) until every
message and row has its outcome; then the invariants are checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import aiohttp
from redis.asyncio import Redis

from ... import Client
from ..._session import seed_jitter
from ...errors import (
    APIError,
    DigitalRiverError,
    KeyReuseError,
)
from ...redis import RedisCoordinator
from ._dr import DRFaults, SimulatedDR, SimulatedSession
from ._loop import VirtualLoop
from ._redis import Link, RedisStore, SimulatedRedisClient

API_KEY = "sk_test_simulation"


@dataclass(frozen=True)
class Options:
    """What a run simulates; the command line's options."""

    workers: int = 3
    keys: int = 8  # queue messages, each a key
    orders: int = 3
    bulk_rows: int = 5
    uploads: float = 0.5  # the chance a run has a bulk upload
    journal: float = 0.6  # the chance an upload keeps a journal
    since: float = 0.5  # the chance an upload is given since=
    fault_rate: float = 0.25  # the highest chance of each fault a run may draw
    settle: float = 10.0
    timeout: float = 60.0
    deadline: float = 120.0
    lease: float = 10.0
    horizon: float = 7 * 24 * 3600.0
    fault_phase: float = 400.0  # virtual seconds with faults before the calm phase


@dataclass
class Trace:
    """Every event of a run: (virtual time, actor, event, key, detail)."""

    events: list[tuple[float, str, str, str | None, str]] = field(default_factory=list)

    def __call__(self, actor: str, event: str, key: str | None = None, detail: str = "") -> None:
        with contextlib.suppress(RuntimeError):
            now = asyncio.get_running_loop().time()
            self.events.append((now, actor, event, key, detail))

    def of(self, key: str) -> list[str]:
        return [
            f"{t:10.3f}s {actor:9} {event}{'' if k is None else ' ' + k} {detail}".rstrip()
            for t, actor, event, k, detail in self.events
            if k is None or k == key
        ]


@dataclass
class Result:
    """What a run found."""

    seed: int
    duplicates: list[str] = field(default_factory=list)  # keys on two fulfillments
    unexcused: list[str] = field(default_factory=list)  # of those: the promise broken
    excused: dict[str, str] = field(default_factory=dict)  # of those: key -> limit exceeded
    outside: list[str] = field(default_factory=list)  # documented limits the run exceeded
    violations: list[str] = field(default_factory=list)  # other invariants broken
    requests: int = 0
    creates: int = 0
    virtual: float = 0.0
    trace: Trace = field(default_factory=Trace)

    @property
    def failed(self) -> bool:
        """A duplicate within the promise, or another invariant broken."""
        return bool(self.unexcused or self.violations)


@dataclass
class Fleet:
    """The run's faults beyond DR's: what happens to the workers, the queue and Redis."""

    message_timeout: float  # the consumer gives up on a message after this (inf: never)
    visibility: float  # the queue delivers an unacked message again after this (inf: never)
    redelivery: tuple[float, float]  # seconds before a failed message comes back
    crash: float  # chance a worker crashes at a random moment of the fault phase
    crash_mid_send: float  # chance (each create it sends) a worker dies right after the send
    partition: float  # chance one worker is cut off from Redis for a while
    partition_mid_send: float  # chance (each create) a worker loses Redis just after a send
    partition_mode: str
    flush: float  # chance Redis is flushed during the fault phase
    redis_skew: float
    dr_skew: float
    # Drawn by ``draw_redis``: a round trip to Redis, and how often it is flushed (if so).
    redis_latency: float = 0.001
    flushes: int = 1


@dataclass
class Bulk:
    """The run's bulk upload: its options and what happens to it."""

    present: bool
    journal: bool
    since: bool
    interrupt: float  # chance the first run is stopped (Ctrl-C) or crashes mid-way
    lose_journal: str  # "", "delete" or "truncate", between runs


def draw(rng: random.Random, options: Options) -> tuple[DRFaults, Fleet, Bulk]:
    """Every fault of a run, drawn from its generator: each fault is off in about half the
    runs and at a random strength up to ``fault_rate`` in the others."""

    def chance() -> float:
        return 0.0 if rng.random() < 0.5 else rng.uniform(0, options.fault_rate)

    settle, lease = options.settle, options.lease
    # Late commits up to half the window, nearly all of it, or beyond it ("0-60 s after the
    # answer"): beyond, a duplicate may be the documented limit at work, unless the second
    # create was sent after the first was listed.
    late_max = settle * rng.choice((0.5, 0.9, 0.9, 0.9, 2.0, 6.0))
    dr = DRFaults(
        server_error=chance(),
        rate_limited=chance(),
        dropped=chance(),
        commit_then_drop=chance(),
        late_commit=chance(),
        late_commit_max=late_max,
        slow_answer=rng.choice((0.2, 0.5, 1.2)) * options.timeout,
        read_lag=0.0 if rng.random() < 0.5 else rng.uniform(0, 0.3 * settle),
        # Sometimes a Retry-After longer than a lease: a claim may lapse while it is waited.
        retry_after_max=rng.choice((3, 5, int(2 * lease) + 1)),
        window=settle,
        near_window=rng.choice((0.0, 0.0, 0.3, 0.6)),
    )
    fleet = Fleet(
        message_timeout=rng.choice((float("inf"), options.deadline + 30, 30.0, 5.0, 1.0)),
        visibility=rng.choice((float("inf"), float("inf"), 45.0, 15.0, 5.0)),
        redelivery=(1.0, rng.choice((5.0, 30.0))),
        crash=chance(),
        crash_mid_send=chance(),
        partition=chance(),
        partition_mid_send=chance(),
        partition_mode=rng.choice((Link.CUT, Link.BLACK_HOLE, Link.LOSSY)),
        flush=chance(),
        redis_skew=rng.uniform(-5, 5),
        dr_skew=rng.uniform(-120, 120) if rng.random() < 0.95 else rng.uniform(-600, 600),
    )
    bulk = Bulk(
        present=options.bulk_rows > 0 and rng.random() < options.uploads,
        journal=rng.random() < options.journal,
        since=rng.random() < options.since,
        interrupt=chance() * 4,
        lose_journal=rng.choice(("", "", "delete", "truncate")),
    )
    return dr, fleet, bulk


def draw_redis(rng: random.Random, fleet: Fleet) -> None:
    """The Redis link's round trip (a slow one makes a fence answered late, a claim taken
    late) and the number of flushes in a run that flushes Redis."""
    fleet.redis_latency = rng.choice((0.001, 0.001, 0.01, 0.05, 0.2))
    fleet.flushes = rng.choice((1, 1, 2, 3))


def draw_deadline(rng: random.Random, options: Options) -> float:
    """The clients' deadline in this run: the option, or one too short to settle a doubt
    (then creates end with their outcome unknown, which the next sender must wait out)."""
    return rng.choice((options.deadline, options.deadline, 1.5 * options.settle))


@dataclass
class Message:
    key: str
    order_id: str
    items: list[dict[str, Any]]
    done: bool = False
    refused: bool = False  # done: DR refused it (400, 409) and nothing of its key applied
    deliveries: int = 0
    queued: bool = True  # waiting in the queue
    comeback: asyncio.TimerHandle | None = None  # when it is due back in the queue


class World:
    """The actors of one run and what they share."""

    def __init__(self, seed: int, options: Options, directory: str) -> None:
        self.seed = seed
        self.options = options
        self.rng = random.Random(seed)
        self.result = Result(seed)
        self.trace = self.result.trace
        self.dr_faults, self.fleet, self.bulk = draw(self.rng, options)
        self.deadline = draw_deadline(self.rng, options)
        # A stream of their own: adding these draws changed no earlier draw of a seed.
        self.redis_rng = random.Random(f"redis:{seed}")
        draw_redis(self.redis_rng, self.fleet)
        epoch = VirtualLoop.EPOCH
        self.epoch = epoch
        self.dr = SimulatedDR(
            self.rng, self.dr_faults, epoch=epoch, skew=self.fleet.dr_skew, trace=self.trace
        )
        self.store = RedisStore(
            lambda: asyncio.get_running_loop().time(), skew=self.fleet.redis_skew
        )
        self.messages = self._messages()
        self.queue: deque[Message] = deque(self.messages)
        self.ready = asyncio.Event()
        self.directory = directory
        self.calm = False
        self.workers: list[Worker] = []
        self.durations: list[tuple[str, float]] = []

    def deliver_again(self, message: Message, after: float = 0.0) -> None:
        """Put ``message`` back in the queue ``after`` seconds from now, unless it is done,
        queued already, or due back sooner (a queue holds one copy of a message)."""
        if message.done or message.queued:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + after
        if message.comeback is not None:
            if message.comeback.when() <= due:
                return
            message.comeback.cancel()

        def back() -> None:
            message.comeback = None
            if not message.done and not message.queued:
                message.queued = True
                self.queue.append(message)
                self.ready.set()

        message.comeback = loop.call_at(due, back)

    def wall_clock(self) -> datetime:
        """The workers' clock (DR's is skewed from it)."""
        return self.epoch + timedelta(seconds=asyncio.get_running_loop().time())

    def _messages(self) -> list[Message]:
        rng, options = self.rng, self.options
        items_per_order = 2
        wanted: dict[tuple[int, int], int] = Counter()
        plan = []
        for n in range(options.keys):
            order = rng.randrange(options.orders)
            item = rng.randrange(items_per_order)
            quantity = rng.choice((1, 1, 2))
            wanted[(order, item)] += quantity
            plan.append((n, order, item, quantity))
        order_ids = []
        for order in range(options.orders):
            # Little left over: a duplicate is sometimes refused (409/400), sometimes not.
            items = [
                {
                    "item_id": f"i{item}",
                    "quantity": max(1, wanted[(order, item)] + rng.choice((0, 1, 5))),
                }
                for item in range(items_per_order)
            ]
            order_ids.append(self.dr.state.add_order(items=items))
        return [
            Message(f"m{n}", order_ids[order], [{"item_id": f"i{item}", "quantity": quantity}])
            for n, order, item, quantity in plan
        ]

    def client(
        self, owner: str, session: SimulatedSession, coordinator: RedisCoordinator | None
    ) -> Client:
        options = self.options
        client = Client(
            API_KEY,
            base_url="https://dr.simulated",
            session=cast(aiohttp.ClientSession, session),
            coordinator=coordinator,
            rate_limit=None,
            settle=options.settle,
            timeout=options.timeout,
            deadline=self.deadline,
            backoff_base=0.5,
        )
        return client

    def coordinator(self, link: Link) -> RedisCoordinator:
        redis = cast(Redis, SimulatedRedisClient(self.store, link))
        return RedisCoordinator(
            redis, lease=self.options.lease, horizon=self.options.horizon, poll=(0.05, 1.0)
        )


class Worker:
    """A fleet member: one Client with a coordinator, taking messages off the queue."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name
        self.link = Link(world.fleet.redis_latency)
        self.session = world.dr.session(name)
        self.coordinator = world.coordinator(self.link)
        self.client = world.client(name, self.session, self.coordinator)
        self.current: Message | None = None
        self.task: asyncio.Task[None] | None = None
        self.crashed = False
        self.session.on_post = self._after_post

    def _after_post(self) -> None:
        """A create of this worker just went out: it may die now, or lose Redis."""
        world = self.world
        if world.calm or self.crashed:
            return
        if world.rng.random() < world.fleet.crash_mid_send:
            self.crash()
        elif self.link.state == Link.UP and world.rng.random() < world.fleet.partition_mid_send:
            lease = world.options.lease
            self.cut_off(world.fleet.partition_mode, world.rng.uniform(lease, 3 * lease))

    def cut_off(self, mode: str, seconds: float) -> None:
        """Cut this worker off from Redis for ``seconds`` (the rest of the fleet reaches it)."""
        self.link.state = mode
        self.world.trace(self.name, f"link to Redis {mode}", None)

        def heal() -> None:
            if not self.crashed:
                self.link.state = Link.UP
                self.world.trace(self.name, "link to Redis up", None)

        asyncio.get_running_loop().call_later(seconds, heal)

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    async def run(self) -> None:
        world = self.world
        loop = asyncio.get_running_loop()
        while True:
            while not world.queue:
                world.ready.clear()
                await world.ready.wait()
            message = world.queue.popleft()
            message.queued = False
            if message.done:
                continue
            self.current = message
            message.deliveries += 1
            world.trace(self.name, "delivered", message.key, f"delivery {message.deliveries}")
            began = loop.time()
            visibility = world.fleet.visibility
            if visibility != float("inf"):  # delivered again to whoever is free, unless acked
                world.deliver_again(message, visibility)
            limit = world.fleet.message_timeout
            timeout = None if world.calm or limit == float("inf") else limit
            try:
                await asyncio.wait_for(
                    self.client.fulfillments.create(
                        order_id=message.order_id, items=message.items, key=message.key
                    ),
                    timeout,
                )
            except KeyReuseError as error:
                world.result.violations.append(f"{message.key}: {error}")
                message.done = True
            except (DigitalRiverError, asyncio.TimeoutError) as error:
                world.trace(self.name, "failed", message.key, type(error).__name__)
                if isinstance(error, APIError) and error.status in (400, 409):
                    message.done = message.refused = True  # refused for good
                else:
                    self.redeliver(message)
            else:
                message.done = True
                world.trace(self.name, "acked", message.key)
            finally:
                world.durations.append((message.key, loop.time() - began))
                self.current = None

    def redeliver(self, message: Message) -> None:
        world = self.world
        world.deliver_again(message, world.rng.uniform(*world.fleet.redelivery))

    def crash(self) -> None:
        """Memory lost: no more requests or Redis calls; its message comes back later."""
        self.crashed = True
        self.session.dead = True
        self.link.state = Link.BLACK_HOLE
        self.world.trace(self.name, "crashed", None)
        if self.task is not None:
            self.task.cancel()
        if self.current is not None:
            self.redeliver(self.current)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if not self.crashed:
            await self.client.close()
            await self.coordinator.close()


async def run(seed: int, options: Options) -> Result:
    """One run from ``seed``; returns what it found. Runs on a ``VirtualLoop``."""
    directory = tempfile.mkdtemp(prefix="drfulfill-sim-", dir=_scratch())
    logger = logging.getLogger("drfulfill")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    seed_jitter(seed)  # the SDK's backoff jitter
    try:
        world = World(seed, options, directory)
        await _run(world)
        return world.result
    finally:
        logger.setLevel(level)
        shutil.rmtree(directory, ignore_errors=True)


def _scratch() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


async def _run(world: World) -> None:
    loop = asyncio.get_running_loop()
    options = world.options
    for n in range(options.workers):
        worker = Worker(world, f"worker-{n}")
        world.workers.append(worker)
        worker.start()
    world.ready.set()
    events = _schedule_faults(world)
    from ._upload import upload_all

    upload = asyncio.ensure_future(upload_all(world)) if world.bulk.present else None
    await asyncio.sleep(options.fault_phase)
    for handle in events:
        handle.cancel()
    # The calm phase: no new faults, links healed, crashed workers replaced.
    world.calm = world.dr.calm = True
    world.trace("world", "calm", None)
    for worker in list(world.workers):
        worker.link.state = Link.UP
        if worker.crashed:
            replacement = Worker(world, worker.name + "'")
            world.workers.append(replacement)
            replacement.start()
    world.ready.set()
    give_up = loop.time() + 20 * (options.deadline + options.settle)
    while not all(m.done for m in world.messages) and loop.time() < give_up:  # noqa: ASYNC110
        await asyncio.sleep(options.settle)
    if upload is not None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(upload, max(0.0, give_up - loop.time()) + 1)
    for worker in world.workers:
        await worker.stop()
    # Let every late commit land, then check.
    await asyncio.sleep(world.dr_faults.late_commit_max + world.dr_faults.slow_answer + 60)
    from ._checks import check

    check(world)
    world.result.virtual = loop.time()


def _schedule_faults(world: World) -> list[asyncio.TimerHandle]:
    loop = asyncio.get_running_loop()
    rng, fleet, phase = world.rng, world.fleet, world.options.fault_phase
    handles = []
    for worker in world.workers:
        if rng.random() < fleet.crash:
            handles.append(loop.call_later(rng.uniform(0, phase), worker.crash))
    if world.workers and rng.random() < fleet.partition:
        victim = rng.choice(world.workers)
        start, length = rng.uniform(0, phase), rng.uniform(1, 60)

        def cut() -> None:
            if not victim.crashed and victim.link.state == Link.UP:
                victim.cut_off(fleet.partition_mode, length)

        handles.append(loop.call_later(start, cut))
    if rng.random() < fleet.flush:

        def flush() -> None:
            world.store.flushall()
            world.trace("redis", "FLUSHALL", None)

        handles.append(loop.call_later(rng.uniform(0, phase), flush))
        for _ in range(fleet.flushes - 1):
            handles.append(loop.call_later(world.redis_rng.uniform(0, phase), flush))
    return handles
