"""What one process remembers of safe-create keys, in bounded memory.

``KnownKeys``: keys this client created or found, as fulfillment id and content digest (not
whole models), so a repeat costs one GET by id and never a POST. ``Doubts``: keys whose
last create here ended with its outcome unknown, and from when that send may land, until a
create of the key settles it (bounded: the oldest are dropped first). ``RunKeys``: the keys one
``bulk_create`` run created, found or left in doubt, as 64-bit fingerprints in flat arrays
(about 24-48 bytes per key), so a row repeated anywhere in the input is recognised.
"""

from __future__ import annotations

import enum
import hashlib
from array import array
from collections import OrderedDict

import attrs


@attrs.frozen
class KnownKey:
    """A key's fulfillment, as this client knows it."""

    fulfillment_id: str
    content: int  # ``_safecreate_core.content_digest`` of the fulfillment


class KnownKeys:
    """The last ``size`` keys created or found, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[str, KnownKey] = OrderedDict()

    def get(self, key: str) -> KnownKey | None:
        return self._keys.get(key)

    def add(self, key: str, known: KnownKey) -> None:
        self._keys[key] = known
        self._keys.move_to_end(key)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class Doubts:
    """Keys whose last create here ended with its outcome unknown, each with the clock
    reading from which its send may land; kept until a create of the key settles it
    (``forget``). Beyond ``size`` keys, the least recently noted are dropped, but only once
    their settle window has passed: the next create of such a key then looks it up once
    (a shared key always is), which the promise allows after the window. A doubt whose
    window is open is never dropped, so the map can outgrow ``size`` while a burst of
    doubts is that recent."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._since: OrderedDict[str, float] = OrderedDict()

    def note(self, key: str, since: float, *, now: float, settle: float) -> None:
        """``key``'s send may land from ``since`` on (the latest doubt wins); ``now`` and
        ``settle`` tell which of the oldest doubts may be dropped."""
        old = self._since.pop(key, None)
        self._since[key] = since if old is None else max(old, since)
        while len(self._since) > self._size:
            oldest, oldest_since = next(iter(self._since.items()))
            if oldest_since + settle > now:
                break
            del self._since[oldest]

    def since(self, key: str) -> float | None:
        """From when ``key``'s send may land, while no create has settled it."""
        return self._since.get(key)

    def forget(self, key: str) -> None:
        self._since.pop(key, None)

    def __len__(self) -> int:
        return len(self._since)


class RunKey(enum.Enum):
    """What a bulk run knows of a key it met."""

    EXISTS = 1  # created or found: the key is on a fulfillment
    IN_DOUBT = 2  # a create of it ended with its outcome unknown


class RunKeys:
    """A set of (key fingerprint -> content digest, state) in two flat arrays with open
    addressing: 16 bytes a slot, at most two thirds full (24-48 bytes a key).

    Fingerprints are 64-bit: two distinct keys of one run share one with a chance of about
    n^2 / 2^65 (3e-8 for a million keys); the cost of such a collision is a row refused or
    looked up, never a create sent twice.
    """

    _EMPTY = 0

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = max(8, 1 << (capacity - 1).bit_length())
        self._keys = array("Q", bytes(8 * self._capacity))
        self._values = array("Q", bytes(8 * self._capacity))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held by the two arrays."""
        return 16 * self._capacity

    def get(self, key: str) -> tuple[int, RunKey] | None:
        """The content digest and state recorded for ``key``, or None."""
        fingerprint = _fingerprint(key)
        slot = self._find(fingerprint)
        if self._keys[slot] == self._EMPTY:
            return None
        value = self._values[slot]
        return value >> 1, RunKey.IN_DOUBT if value & 1 else RunKey.EXISTS

    def put(self, key: str, content: int, state: RunKey) -> None:
        """Record ``key`` (``content``: a 63-bit digest); a key that exists stays so."""
        fingerprint = _fingerprint(key)
        slot = self._find(fingerprint)
        if self._keys[slot] == self._EMPTY:
            self._keys[slot] = fingerprint
            self._count += 1
        elif state is RunKey.IN_DOUBT and not self._values[slot] & 1:
            return  # created or found already: a later doubt changes nothing
        self._values[slot] = (content << 1) | (state is RunKey.IN_DOUBT)
        if 3 * self._count > 2 * self._capacity:
            self._grow()

    def _find(self, fingerprint: int) -> int:
        mask = self._capacity - 1
        slot = fingerprint & mask
        while True:
            current = self._keys[slot]
            if current == self._EMPTY or current == fingerprint:
                return slot
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        keys, values = self._keys, self._values
        self._capacity *= 2
        self._keys = array("Q", bytes(8 * self._capacity))
        self._values = array("Q", bytes(8 * self._capacity))
        for fingerprint, value in zip(keys, values, strict=True):
            if fingerprint != self._EMPTY:
                slot = self._find(fingerprint)
                self._keys[slot] = fingerprint
                self._values[slot] = value


def _fingerprint(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1  # 0 marks an empty slot
