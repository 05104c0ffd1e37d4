"""Late commits: requests answered (or dropped) at once and applied later by the event loop,
as DR's backend may commit a create after its gateway answered 504 or the client gave up."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._log import LoggedRequest

Outcome = tuple[int, Any]
"""(status, body) of an applied request: e.g. 201 and the fulfillment, or 409 and its error."""


@dataclass(slots=True, eq=False)
class LateCommit:
    """One request whose effect arrives after its answer (see ``Emulator.add_fault``).

    ``status`` and ``body`` are what applying it gave, None while it is pending: 201 and the
    created object, or e.g. 409 and the DR error body when the request was no longer valid at
    commit time (then nothing was applied).
    """

    request: LoggedRequest
    due: float  # event-loop time
    status: int | None = None
    body: Any = None

    @property
    def pending(self) -> bool:
        return self.status is None

    @property
    def applied(self) -> bool:
        """The request changed the state (a 2xx at commit time)."""
        return self.status is not None and self.status < 300


@dataclass(slots=True, eq=False)
class _Pending:
    commit: LateCommit
    apply: Callable[[], Outcome]
    handle: asyncio.TimerHandle | None = field(default=None)


class LateCommits:
    """The newest ``log_limit`` late commits (None: all), in the order they were scheduled,
    and the timers of pending ones (all of them, however many)."""

    def __init__(self, log_limit: int | None = None) -> None:
        self.all: deque[LateCommit] = deque(maxlen=log_limit)
        self._pending: list[_Pending] = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def schedule(
        self, request: LoggedRequest, apply: Callable[[], Outcome], delay: float
    ) -> LateCommit:
        """Run ``apply`` ``delay`` seconds from now on the running loop."""
        loop = asyncio.get_running_loop()
        pending = _Pending(LateCommit(request, loop.time() + delay), apply)
        pending.handle = loop.call_later(delay, self._run, pending)
        self._pending.append(pending)
        self.all.append(pending.commit)
        return pending.commit

    def apply_all(self) -> list[LateCommit]:
        """Apply every pending commit now, the earliest due first (ties: scheduling order)."""
        due = sorted(self._pending, key=lambda pending: pending.commit.due)
        for pending in due:
            if pending.handle is not None:
                pending.handle.cancel()
            self._run(pending)
        return [pending.commit for pending in due]

    def _run(self, pending: _Pending) -> None:
        self._pending.remove(pending)
        pending.commit.status, pending.commit.body = pending.apply()
