"""The signatures of deliveries a webhook endpoint accepted, so that one seen again (a
captured delivery replayed within the tolerance) is refused. DR signs every retry anew, so
a genuine redelivery never carries a signature already accepted."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

__all__ = ["DeliveryLog"]


class DeliveryLog:
    """Accepted signatures, each kept until it could no longer pass the age check.

    Bounded: beyond ``max_entries`` the oldest is forgotten first (a replay of it within its
    tolerance would then pass; with the default 100,000 that takes more than 100,000
    deliveries within the tolerance window, i.e. 330 a second for 300 s).
    """

    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._expiries: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiries)

    def add(self, signatures: Iterable[bytes], *, expires: float) -> bool:
        """Remember a delivery's signatures until ``expires`` (Unix time); False, and
        nothing remembered, when one of them is remembered already: a replay."""
        self._forget_expired()
        signatures = list(signatures)
        if any(signature in self._expiries for signature in signatures):
            return False
        for signature in signatures:
            self._expiries[signature] = expires
        while len(self._expiries) > self._max_entries:
            self._expiries.popitem(last=False)
        return True

    def discard(self, signatures: Iterable[bytes]) -> None:
        """Forget a delivery after all (it was not accepted in the end)."""
        for signature in signatures:
            self._expiries.pop(signature, None)

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._expiries:
            oldest, expires = next(iter(self._expiries.items()))
            if expires > now:
                return
            del self._expiries[oldest]
