"""List endpoints: query-string rules, and a collection that serves DR-ordered pages.

Lists are newest first: by ``createdTime`` descending, then by creation sequence descending,
so of two objects created in the same second the later one is listed first.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._constants import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .._convert import parse_datetime
from ._errors import Json, bad_request, not_found

# (createdTime as epoch seconds, creation sequence number, id): ascending order of these
# tuples is the reverse of list order. The sequence number is unique, so the id never decides.
SortKey = tuple[int, int, str]
Extractor = Callable[[Json], Iterable[Any]]


@dataclass(frozen=True, slots=True)
class ListRules:
    """What a list endpoint accepts: filters (each with how to read it off an object)."""

    scalar_filters: Mapping[str, Extractor]
    array_filters: Mapping[str, Extractor]  # repeated keys, e.g. ids=a&ids=b
    indexed: tuple[str, ...]  # filters whose values never change: served from an index
    time_operators: frozenset[str]


@dataclass(slots=True)
class ListQuery:
    limit: int = DEFAULT_PAGE_SIZE
    starting_after: str | None = None
    ending_before: str | None = None
    earliest: int | None = None  # inclusive bounds on createdTime, in epoch seconds
    latest: int | None = None
    filters: dict[str, frozenset[str]] = field(default_factory=dict)


def parse_list_query(pairs: Iterable[tuple[str, str]], rules: ListRules) -> ListQuery:
    """Validate a list query string the way DR does; see DESIGN.md "Emulator"."""
    query = ListQuery()
    seen: set[str] = set()
    arrays: dict[str, set[str]] = {}
    for key, value in pairs:
        if key in rules.array_filters:
            if value == "":
                raise bad_request("invalid_parameter", f"'{key}' must not be empty.", key)
            arrays.setdefault(key, set()).add(value)  # a comma-joined value is one id
            continue
        if key in seen:
            raise bad_request("invalid_parameter", f"'{key}' was given more than once.", key)
        seen.add(key)
        if value == "":
            raise bad_request("invalid_parameter", f"'{key}' must not be empty.", key)
        if key == "createdTime" or key.startswith("createdTime["):
            _apply_time_bound(query, key, value, rules.time_operators)
        elif key == "limit":
            query.limit = _parse_limit(value)
        elif key == "startingAfter":
            query.starting_after = value
        elif key == "endingBefore":
            query.ending_before = value
        elif key in rules.scalar_filters:
            query.filters[key] = frozenset((value,))
        else:
            raise bad_request("unknown_parameter", f"Unknown parameter '{key}'.", key)
    query.filters.update((key, frozenset(values)) for key, values in arrays.items())
    return query


def parse_time(value: str, parameter: str) -> float:
    """An ISO-8601 query time as epoch seconds. A time without an offset is taken as UTC."""
    try:
        moment = parse_datetime(value)
    except (ValueError, OverflowError):
        raise bad_request(
            "invalid_parameter", f"'{value}' is not an ISO-8601 date-time.", parameter
        ) from None
    return moment.timestamp()


def _parse_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not MIN_PAGE_SIZE <= limit <= MAX_PAGE_SIZE:
        raise bad_request(
            "invalid_parameter",
            f"limit must be an integer from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}.",
            "limit",
        )
    return limit


def _apply_time_bound(query: ListQuery, key: str, value: str, operators: frozenset[str]) -> None:
    # A bare createdTime=<time> means equality (DR's description allows a plain string).
    operator = "eq" if key == "createdTime" else key[len("createdTime[") : -1]
    if key != "createdTime" and (not key.endswith("]") or operator not in operators):
        raise bad_request(
            "invalid_parameter",
            f"Unsupported createdTime operator in '{key}'; use one of "
            + ", ".join(sorted(operators))
            + ".",
            key,
        )
    moment = parse_time(value, key)
    # Stored times are whole seconds, so each bound becomes an inclusive whole-second bound.
    low, high = {
        "eq": (math.ceil(moment), math.floor(moment)),
        "gt": (math.floor(moment) + 1, None),
        "gte": (math.ceil(moment), None),
        "lt": (None, math.ceil(moment) - 1),
        "lte": (None, math.floor(moment)),
    }[operator]
    if low is not None:
        query.earliest = low if query.earliest is None else max(query.earliest, low)
    if high is not None:
        query.latest = high if query.latest is None else min(query.latest, high)


class Collection:
    """Objects of one resource: by id, in creation order, and sorted for listing."""

    def __init__(self, rules: ListRules) -> None:
        self.rules = rules
        self.objects: dict[str, Json] = {}  # insertion order = creation order
        self._keys: dict[str, SortKey] = {}
        self._committed: dict[str, float] = {}  # epoch seconds, full precision: for read lag
        self._sorted: list[SortKey] = []
        self._indexes: dict[str, dict[str, list[SortKey]]] = {name: {} for name in rules.indexed}

    def add(self, obj: Json, key: SortKey, committed: float) -> None:
        self.objects[key[2]] = obj
        self._keys[key[2]] = key
        self._committed[key[2]] = committed
        _insert_sorted(self._sorted, key)
        for name, index in self._indexes.items():
            for value in set(self._extractor(name)(obj)):
                _insert_sorted(index.setdefault(value, []), key)

    def get(self, object_id: str, resource: str) -> Json:
        obj = self.objects.get(object_id)
        if obj is None:
            raise not_found(resource, object_id)
        return obj

    def page(self, query: ListQuery, committed_by: float | None = None) -> Json:
        """One page of ``{"hasMore", "data"}`` with Stripe-style cursors (endingBefore wins).

        With ``committed_by`` (epoch seconds), objects committed later are left out.
        """
        after = before = None
        if query.ending_before is not None:
            before = self._cursor(query.ending_before, "endingBefore")
        elif query.starting_after is not None:
            after = self._cursor(query.starting_after, "startingAfter")
        keys = self._candidates(query.filters)
        start = 0 if query.earliest is None else bisect_left(keys, (query.earliest,))
        end = len(keys) if query.latest is None else bisect_left(keys, (query.latest + 1,))
        matches = self._matcher(query.filters, committed_by)
        if before is not None:
            # The `limit` objects listed just before the cursor: the oldest ones newer than it.
            start = max(start, bisect_right(keys, before))
            found = self._scan(keys, range(start, end), matches, query.limit + 1)
            data = found[: query.limit][::-1]
        else:
            if after is not None:
                end = min(end, bisect_left(keys, after))
            found = self._scan(keys, range(end - 1, start - 1, -1), matches, query.limit + 1)
            data = found[: query.limit]
        return {"hasMore": len(found) > query.limit, "data": [self.objects[i] for i in data]}

    def _scan(
        self,
        keys: Sequence[SortKey],
        positions: range,
        matches: Callable[[Json], bool] | None,
        wanted: int,
    ) -> list[str]:
        """Ids at ``positions`` that pass the filters, stopping once ``wanted`` are found."""
        found: list[str] = []
        for position in positions:
            object_id = keys[position][2]
            if matches is None or matches(self.objects[object_id]):
                found.append(object_id)
                if len(found) == wanted:
                    break
        return found

    def _cursor(self, object_id: str, parameter: str) -> SortKey:
        # A cursor keeps its place in the full list even when the filters exclude it.
        key = self._keys.get(object_id)
        if key is None:
            raise bad_request(
                "invalid_parameter", f"No such object '{object_id}' for {parameter}.", parameter
            )
        return key

    def _candidates(self, filters: Mapping[str, frozenset[str]]) -> list[SortKey]:
        """The smallest ready-made sorted key list that holds every possible match."""
        if "ids" in filters:
            return sorted(self._keys[i] for i in filters["ids"] if i in self._keys)
        for name in self.rules.indexed:
            if name in filters:
                index = self._indexes[name]
                lists = [index.get(value, []) for value in filters[name]]
                return lists[0] if len(lists) == 1 else sorted(set().union(*lists))
        return self._sorted

    def _matcher(
        self, filters: Mapping[str, frozenset[str]], committed_by: float | None
    ) -> Callable[[Json], bool] | None:
        if not filters and committed_by is None:
            return None
        checks = [(self._extractor(name), wanted) for name, wanted in filters.items()]
        committed = self._committed

        def matches(obj: Json) -> bool:
            if committed_by is not None and committed[obj["id"]] > committed_by:
                return False
            return all(any(value in wanted for value in extract(obj)) for extract, wanted in checks)

        return matches

    def _extractor(self, name: str) -> Extractor:
        return self.rules.scalar_filters.get(name) or self.rules.array_filters[name]


def _insert_sorted(keys: list[SortKey], key: SortKey) -> None:
    # Wall-clock creations arrive in order: appending is the common, O(1) case.
    if not keys or key > keys[-1]:
        keys.append(key)
    else:
        insort(keys, key)


def _field(name: str) -> Extractor:
    return lambda obj: (obj.get(name),)


def _item_field(name: str) -> Extractor:
    return lambda obj: [item.get(name) for item in obj["items"]]


def _field_or_item_field(name: str) -> Extractor:
    return lambda obj: (obj.get(name), *(item.get(name) for item in obj["items"]))


FULFILLMENT_LIST_RULES = ListRules(
    scalar_filters={
        "orderId": _field("orderId"),
        "skuId": _item_field("skuId"),
        # DR does not say whether item-level tracking counts; we match either level.
        "trackingCompany": _field_or_item_field("trackingCompany"),
        "trackingNumber": _field_or_item_field("trackingNumber"),
    },
    array_filters={"ids": _field("id")},
    indexed=("orderId", "skuId"),
    time_operators=frozenset({"gt", "gte", "lt", "lte"}),
)

RETURN_LIST_RULES = ListRules(
    scalar_filters={
        "state": _field("state"),
        "fulfillmentOrderId": _field("fulfillmentOrderId"),
        "inventoryItemId": _item_field("inventoryItemId"),
    },
    array_filters={"ids": _field("id"), "upstreamIds": _field("upstreamId")},
    indexed=("fulfillmentOrderId", "upstreamIds", "inventoryItemId"),
    time_operators=frozenset({"eq", "gt", "gte", "lt", "lte"}),
)
