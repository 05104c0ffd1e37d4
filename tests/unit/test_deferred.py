"""Items left unbuilt at decode and built on first read (``drfulfill._deferred``), and the
generated fast path (``drfulfill._fastpath``) that leaves them so."""

from __future__ import annotations

import copy
import pickle
import threading
from decimal import Decimal
from typing import Any

import attrs
import pytest

from drfulfill._convert import decoder, structure, unstructure
from drfulfill._deferred import BuiltOnRead, Unbuilt
from drfulfill._fastpath import FieldPlan, NotBuildable, compile_fast_path
from drfulfill.errors import DecodeError
from drfulfill.models import (
    Address,
    Fulfillment,
    FulfillmentItem,
    FulfillmentReturn,
    FulfillmentReturnItem,
    Location,
)

ITEMS = [
    {"itemId": "1", "quantity": 2, "distributorCost": 20.5},
    {"itemId": "2", "cancelQuantity": 1, "somethingNew": True},  # takes the tolerant reader
]
WIRE: dict[str, Any] = {
    "id": "ful_1",
    "createdTime": "2024-01-01T00:00:00Z",
    "orderId": "o1",
    "items": ITEMS,
}
BUILT = (
    FulfillmentItem(item_id="1", quantity=2, distributor_cost=Decimal("20.5")),
    FulfillmentItem(item_id="2", cancel_quantity=1, extra={"somethingNew": True}),
)


def slot_value(obj: object, name: str) -> object:
    """What the slot holds right now, without building it."""
    descriptor = type(obj).__dict__[name]
    assert isinstance(descriptor, BuiltOnRead)
    return descriptor.slot.__get__(obj, type(obj))


def decoded() -> Fulfillment:
    return decoder(Fulfillment)({**WIRE, "items": [dict(item) for item in ITEMS]})


def test_items_stay_unbuilt_until_first_read_then_are_built_once() -> None:
    ful = decoded()
    assert isinstance(slot_value(ful, "items"), Unbuilt)
    first = ful.items
    assert first == BUILT and type(first) is tuple
    assert slot_value(ful, "items") is first  # stored in the slot: the next read is free
    assert ful.items is first


@pytest.mark.parametrize(
    "read",
    [
        lambda f: (
            f == Fulfillment(id="ful_1", created_time=f.created_time, order_id="o1", items=BUILT)
        ),
        hash,
        repr,
        attrs.asdict,
        lambda f: attrs.evolve(f, id="ful_2").items,
        lambda f: pickle.loads(pickle.dumps(f)),
        copy.copy,
        copy.deepcopy,
        unstructure,
    ],
    ids=["eq", "hash", "repr", "asdict", "evolve", "pickle", "copy", "deepcopy", "unstructure"],
)
def test_every_way_of_reading_a_model_sees_the_built_items(read: Any) -> None:
    ful = decoded()
    eager = Fulfillment(id="ful_1", created_time=ful.created_time, order_id="o1", items=BUILT)
    assert read(ful) == read(eager)
    assert ful.items == BUILT


def test_copies_and_pickles_are_equal_to_the_original() -> None:
    ful = decoded()
    for other in (pickle.loads(pickle.dumps(ful)), copy.copy(decoded()), attrs.evolve(decoded())):
        assert other == ful and hash(other) == hash(ful)
        assert not isinstance(slot_value(other, "items"), Unbuilt)


def test_an_empty_array_is_the_empty_tuple_at_once() -> None:
    ful = decoder(Fulfillment)({**WIRE, "items": []})
    assert slot_value(ful, "items") == ()


@pytest.mark.parametrize("bad", [[1], ["x"], [None], [ITEMS[0], []], "items", {"a": 1}, None])
def test_items_that_are_not_an_array_of_objects_take_the_tolerant_reader(bad: object) -> None:
    # items is required: an unreadable array makes the fulfillment undecodable, at decode
    # time, never later at the first read.
    with pytest.raises(DecodeError, match="items"):
        structure({**WIRE, "items": bad}, Fulfillment)


def test_return_items_with_nested_locations_are_built_on_read() -> None:
    wire = {
        "id": "ret_1",
        "createdTime": "2024-01-01T00:00:00Z",
        "items": [
            {
                "fulfillmentOrderItemId": "1",
                "location": {"address": {"city": "Paris", "zip": "75001"}},
                "unitAttributes": [{"serialNumber": "s1"}],
            }
        ],
    }
    ret = decoder(FulfillmentReturn)(wire)
    assert isinstance(slot_value(ret, "items"), Unbuilt)
    (item,) = ret.items
    assert item.location == Location(address=Address(city="Paris", extra={"zip": "75001"}))
    assert item.unit_attributes[0].serial_number == "s1"
    assert structure({**wire, "items": None}, FulfillmentReturn).items == ()


def test_threads_reading_an_unbuilt_field_at_once_get_equal_tuples() -> None:
    ful = decoded()
    barrier = threading.Barrier(4)
    seen: list[object] = []

    def read() -> None:
        barrier.wait()
        seen.append(ful.items)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [BUILT] * 4


def test_the_decoder_decodes_as_structure_does() -> None:
    decode = decoder(Fulfillment)
    assert decode(WIRE) == structure(WIRE, Fulfillment)  # the same but for when items build
    assert decoder(Fulfillment) is decode
    assert decoder(FulfillmentReturnItem)({"quantity": "2"}).quantity == 2  # tolerant reader


# --- the generated fast path --------------------------------------------------------------


@attrs.frozen
class WithPostInit:
    a: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        pass


@attrs.frozen
class WithConverter:
    a: str | None = attrs.field(default=None, converter=str)
    extra: dict[str, Any] = attrs.field(factory=dict)


@pytest.mark.parametrize("cls", [WithPostInit, WithConverter])
def test_a_model_the_fast_path_would_build_wrongly_is_refused(cls: type) -> None:
    with pytest.raises(NotBuildable, match="no fast path"):
        compile_fast_path(
            cls,
            [FieldPlan("a", "a", False, exact=str)],
            known=["a"],
            extra_field="extra",
            fallback=cls,
            misses=(TypeError,),
        )


def test_validators_still_run_on_the_fast_path() -> None:
    @attrs.frozen
    class Positive:
        n: int = attrs.field(validator=attrs.validators.gt(0))
        extra: dict[str, Any] = attrs.field(factory=dict)

    calls: list[object] = []

    def fallback(data: object) -> str:
        calls.append(data)
        return "tolerant"

    structure_fn = compile_fast_path(
        Positive,
        [FieldPlan("n", "n", True, exact=int)],
        known=["n"],
        extra_field="extra",
        fallback=fallback,
        misses=(TypeError, KeyError, ValueError),
    )
    assert structure_fn({"n": 2}) == Positive(n=2)
    assert structure_fn({"n": 0}) == "tolerant"  # gt(0) raised ValueError: a miss
    assert structure_fn({"n": "2"}) == "tolerant"
    assert structure_fn({"m": 2}) == "tolerant"
    assert calls == [{"n": 0}, {"n": "2"}, {"m": 2}]


def test_the_fast_path_sets_every_slot_and_a_fresh_extra() -> None:
    one = structure({"itemId": "1"}, FulfillmentItem)
    two = structure({"itemId": "1"}, FulfillmentItem)
    assert one == FulfillmentItem(item_id="1")
    assert one.extra == {} and one.extra is not two.extra
    for field in attrs.fields(FulfillmentItem):
        getattr(one, field.name)  # no AttributeError: no slot left empty


# --- a caller's own mapping is never aliased by unbuilt items ----------------------------


def wire_copy() -> dict[str, Any]:
    return {**WIRE, "items": [dict(item) for item in ITEMS]}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["items"][0].update(quantity=99),
        lambda d: d["items"].append({"itemId": "3"}),
        lambda d: d["items"].clear(),
        lambda d: d["items"].append(None),  # would make a deferred build raise
    ],
    ids=["item-changed", "item-added", "cleared", "junk-added"],
)
def test_structure_of_a_callers_mapping_is_not_changed_by_mutating_it(mutate: Any) -> None:
    data = wire_copy()
    ful = structure(data, Fulfillment)
    mutate(data)
    assert ful.items == BUILT
    assert repr(ful) and hash(ful) == hash(attrs.evolve(ful))


def test_parse_event_of_a_callers_mapping_is_not_changed_by_mutating_it() -> None:
    from drfulfill.webhooks import parse_event

    event_wire: dict[str, Any] = {
        "id": "evt_1",
        "type": "fulfillment.created",
        "data": {"object": wire_copy()},
    }
    event = parse_event(event_wire)
    event_wire["data"]["object"]["items"][0]["quantity"] = 42
    event_wire["data"]["object"]["items"].append("junk")
    assert isinstance(event.object, Fulfillment)
    assert event.object.items == BUILT
    assert repr(event)


def test_the_decoder_for_the_sdks_own_bodies_leaves_items_unbuilt() -> None:
    assert isinstance(slot_value(decoder(Fulfillment)(wire_copy()), "items"), Unbuilt)
    assert not isinstance(slot_value(structure(wire_copy(), Fulfillment), "items"), Unbuilt)


# --- models the fast path cannot build still decode ---------------------------------------


@attrs.frozen(kw_only=True)
class NotedFulfillment(Fulfillment):
    note: str | None = None


@attrs.define(slots=False, kw_only=True)
class Unslotted:
    name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


def test_a_subclass_of_a_model_decodes_with_its_inherited_slots() -> None:
    decoded = structure({**wire_copy(), "note": "n"}, NotedFulfillment)
    assert decoded.note == "n" and decoded.items == BUILT and decoded.extra == {}
    assert structure({**wire_copy(), "new": 1}, NotedFulfillment).extra == {"new": 1}


def test_a_model_without_slots_takes_the_tolerant_reader() -> None:
    assert structure({"name": "x"}, Unslotted) == Unslotted(name="x")
    assert structure({"name": "x", "zz": 1}, Unslotted) == Unslotted(name="x", extra={"zz": 1})


def test_a_mapping_that_is_not_a_dict_is_read_without_being_changed() -> None:
    from collections import defaultdict

    data: defaultdict[str, Any] = defaultdict(str, {k: v for k, v in WIRE.items() if k != "id"})
    with pytest.raises(DecodeError, match="'id'"):
        structure(data, Fulfillment)
    assert "id" not in data  # a lookup d["id"] would have inserted it
