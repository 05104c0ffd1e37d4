"""What the safe-create component is told about a key (``CreateOptions``), what it tells
back (``Outcome``), and what a fleet claim adds to what the caller knows."""

from __future__ import annotations

import attrs

from ._coordination import Claim
from .models import Fulfillment


@attrs.frozen
class CreateOptions:
    """How much ``SafeCreator.create_or_find`` may assume about a key.

    :ivar verified: the caller has just looked the key up and it was not there (a random
        key is verified by construction): the first step is a send, not a lookup (unless
        ``doubt_since`` is set).
    :ivar shared: other processes may create with the same key (a caller's or a bulk row's
        key), so a fleet claim guards it (when the client has a coordinator).
    :ivar doubt_since: a ``SafeCreator.clock()`` reading from which an earlier create with
        this key may land (a journal's 'started' row), so lookups must span the settle
        window from then before any send.
    :ivar exists: the key is known to be on a fulfillment already (an earlier row of the
        same bulk run created or found it): it is looked up (across a settle window, since
        lists may lag), never sent.
    """

    verified: bool = False
    shared: bool = True
    doubt_since: float | None = None
    exists: bool = False


@attrs.frozen
class Outcome:
    """What ``SafeCreator.create_or_find`` did.

    :ivar fulfillment: the fulfillment that carries the key.
    :ivar found: True when it existed before this call sent anything (made by an earlier
        run or another process, or already known to this client).
    """

    fulfillment: Fulfillment
    found: bool


def with_claim(options: CreateOptions, claim: Claim) -> CreateOptions:
    """What a fresh claim adds to what the caller knows of the key."""
    if claim.doubt_since is not None:  # an earlier holder's send may land from then on
        return attrs.evolve(
            options, verified=False, doubt_since=later(options.doubt_since, claim.doubt_since)
        )
    if claim.vouched and options.doubt_since is None:
        # The fleet's records are whole and hold nothing of this key: nobody sent it, so
        # the create is sent at once (one request), not looked up first.
        return attrs.evolve(options, verified=True)
    return options


def later(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
