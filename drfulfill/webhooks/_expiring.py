"""A bounded set whose members expire: what a webhook endpoint remembers (the signatures of
deliveries it accepted, the ids of events it took on)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sized

__all__ = ["ExpiringSet"]


class ExpiringSet(Sized):
    """Keys, each kept until its expiry time by ``clock``; beyond ``max_entries`` the oldest
    is forgotten first, so memory stays bounded whatever arrives."""

    def __init__(self, *, max_entries: int, clock: Callable[[], float]) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._expiries: OrderedDict[bytes, float] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._expiries)

    def add_new(self, keys: Iterable[bytes], *, expires: float) -> bool:
        """Keep ``keys`` until ``expires``; False, and nothing kept, when one of them is
        kept already."""
        self._forget_expired()
        keys = list(keys)
        if any(key in self._expiries for key in keys):
            return False
        for key in keys:
            self._expiries[key] = expires
        while len(self._expiries) > self._max_entries:
            self._expiries.popitem(last=False)
        return True

    def discard(self, keys: Iterable[bytes]) -> None:
        """Forget ``keys`` (those not kept are ignored)."""
        for key in keys:
            self._expiries.pop(key, None)

    def _forget_expired(self) -> None:
        # Keys are added in arrival order and mostly expire in it: the leading expired ones
        # go now, any others once they lead (or the size bound drops them first).
        now = self._clock()
        while self._expiries:
            oldest, expires = next(iter(self._expiries.items()))
            if expires > now:
                return
            del self._expiries[oldest]
