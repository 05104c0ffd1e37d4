"""What the emulator records about the requests it saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class LoggedRequest:
    """One request as the emulator saw it. The API key is redacted from ``headers``."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any  # parsed JSON; the raw text if it was not JSON; None without a body
    headers: dict[str, str]
    request_id: str
    status: int | None = None  # None: the connection was dropped without a response
