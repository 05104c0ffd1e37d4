"""Progress of an upload: a rich bar on a terminal, a log line every few seconds elsewhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ._results import Outcome


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class Meter:
    """Counts of a send, its rate and ETA. Pure but for the injectable ``clock``.

    The rate counts rows sent in this run (created or failed), never rows resumed from the
    journal: after a resume, those come back at once and would make the ETA a lie.
    """

    total: int = 0
    clock: Callable[[], float] = time.monotonic
    created: int = 0
    resumed: int = 0
    failed: int = 0
    started: float = field(default=0.0)

    def start(self, total: int) -> None:
        self.total, self.created, self.resumed, self.failed = total, 0, 0, 0
        self.started = self.clock()

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "created":
            self.created += 1
        elif outcome.status == "resumed":
            self.resumed += 1
        else:
            self.failed += 1

    @property
    def done(self) -> int:
        return self.created + self.resumed + self.failed

    def rate(self) -> float | None:
        """Rows sent per second in this run; None before any."""
        elapsed = self.clock() - self.started
        sent = self.created + self.failed
        return sent / elapsed if sent and elapsed > 0 else None

    def eta(self) -> float | None:
        """Seconds left at the current rate; None while it is unknown."""
        rate = self.rate()
        return max(self.total - self.done, 0) / rate if rate else None

    def rate_text(self) -> str:
        rate = self.rate()
        return f"{rate:,.0f}/s" if rate is not None else "-/s"

    def eta_text(self) -> str:
        eta = self.eta()
        return _duration(eta) if eta is not None else "-:--:--"

    def line(self) -> str:
        """One greppable progress line."""
        return (
            f"progress: {self.done:,}/{self.total:,} done ({self.created:,} created, "
            f"{self.resumed:,} resumed), {self.failed:,} failed, {self.rate_text()}, "
            f"ETA {self.eta_text()}"
        )


class Progress:
    """Progress display of a send; the base class shows nothing."""

    def start(self, total: int, description: str = "Uploading") -> None:
        pass

    def advance(self, outcome: Outcome) -> None:
        pass

    async def heartbeat(self) -> None:
        """Run while the send runs (cancelled at its end); the base class needs none."""

    def stop(self) -> None:
        pass


class LogProgress(Progress):
    """For a stderr that is not a terminal (cron, CI, Kubernetes): ``meter.line()`` every
    ``interval`` seconds, also while no row finishes (an API that stalls), and at the end."""

    def __init__(
        self,
        stream: IO[str],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._sleep = sleep
        self.meter = Meter(clock=clock)
        self._last = 0.0

    def _write(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def start(self, total: int, description: str = "Uploading") -> None:
        self.meter.start(total)
        self._last = self.meter.started
        self._write(f"{description}: {total:,} fulfillment(s)")

    def advance(self, outcome: Outcome) -> None:
        self.meter.add(outcome)
        self._maybe_write()

    async def heartbeat(self) -> None:
        if self._interval <= 0:
            return  # a line per finished row already
        while True:
            await self._sleep(self._interval)
            self._maybe_write()

    def _maybe_write(self) -> None:
        now = self.meter.clock()
        if now - self._last >= self._interval:
            self._last = now
            self._write(self.meter.line())

    def stop(self) -> None:
        self._write(self.meter.line())


class RichProgress(Progress):
    """A rich progress bar on stderr: done/total, rate, ETA, failures."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[failed]}"),
            console=console,
            transient=False,
        )
        self._task: Any = None
        self.meter = Meter()

    def start(self, total: int, description: str = "Uploading") -> None:
        self.meter.start(total)
        self._bar.start()
        self._task = self._bar.add_task(
            description, total=total, rate="", eta=self.meter.eta_text(), failed=""
        )

    def advance(self, outcome: Outcome) -> None:
        self.meter.add(outcome)
        failed = self.meter.failed
        self._bar.update(
            self._task,
            advance=1,
            rate=self.meter.rate_text(),
            eta=self.meter.eta_text(),
            failed=f"[red]{failed} failed" if failed else "",
        )

    def stop(self) -> None:
        self._bar.stop()


def progress_for(console: Console, *, interval: float = 5.0) -> Progress:
    """A bar when ``console`` is a terminal; else a progress line every ``interval`` s."""
    if console.is_terminal:
        return RichProgress(console)
    return LogProgress(console.file, interval=interval)
