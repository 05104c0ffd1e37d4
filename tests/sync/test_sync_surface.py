"""The sync surface cannot drift from the async one: every public method, property and
parameter of ``Client`` and its resources is on ``SyncClient`` with the same parameters."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from drfulfill import Client, SyncClient, SyncPager
from drfulfill._raw import RawFulfillmentReturns, RawFulfillments
from drfulfill._sync import (
    SyncFulfillmentReturns,
    SyncFulfillments,
    SyncRawFulfillmentReturns,
    SyncRawFulfillments,
)
from drfulfill.pagination import AsyncPager
from drfulfill.resources.fulfillment_returns import FulfillmentReturns
from drfulfill.resources.fulfillments import Fulfillments

# Async-only by nature, each with its reason.
NOT_MIRRORED = {
    # The safe-create component: an async object the CLI and bulk_create create through.
    (Fulfillments, "safe_create"),
}
# Context-manager and awaiting protocols have their sync counterparts.
ASYNC_TO_SYNC = {"__aenter__": "__enter__", "__aexit__": "__exit__", "__aiter__": "__iter__"}


def public_names(cls: type, instance: object = None) -> set[str]:
    names = {name for name in dir(cls) if not name.startswith("_")}
    if instance is not None:
        names |= {name for name in vars(instance) if not name.startswith("_")}
    return names | {name for name in ASYNC_TO_SYNC if hasattr(cls, name)}


def parameters(function: Any) -> list[tuple[str, Any, Any, Any]]:
    """Each parameter but ``self``: name, kind, default, annotation (as written)."""
    signature = inspect.signature(function)
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in signature.parameters.values()
        if p.name != "self"
    ]


def client_pairs() -> list[tuple[object, object, str]]:
    async_client = Client("sk_test_surface", base_url="http://127.0.0.1:1")
    sync_client = SyncClient("sk_test_surface", base_url="http://127.0.0.1:1")
    return [
        (async_client, sync_client, "Client"),
        (async_client.fulfillments, sync_client.fulfillments, "fulfillments"),
        (async_client.fulfillment_returns, sync_client.fulfillment_returns, "fulfillment_returns"),
        (
            async_client.with_raw_response.fulfillments,
            sync_client.with_raw_response.fulfillments,
            "with_raw_response.fulfillments",
        ),
        (
            async_client.with_raw_response.fulfillment_returns,
            sync_client.with_raw_response.fulfillment_returns,
            "with_raw_response.fulfillment_returns",
        ),
    ]


@pytest.mark.parametrize(("async_side", "sync_side", "where"), client_pairs())
def test_every_public_name_has_a_sync_twin(async_side: object, sync_side: object, where: str):
    wanted = {
        ASYNC_TO_SYNC.get(name, name)
        for name in public_names(type(async_side), async_side)
        if (type(async_side), name) not in NOT_MIRRORED
    }
    have = public_names(type(sync_side), sync_side) | {"__enter__", "__exit__", "__iter__"}
    missing = wanted - have
    assert not missing, f"{where}: the sync client lacks {sorted(missing)}"


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [
        (Client, SyncClient),
        (Fulfillments, SyncFulfillments),
        (FulfillmentReturns, SyncFulfillmentReturns),
    ],
)
def test_every_method_takes_the_same_parameters(async_cls: type, sync_cls: type):
    for name, member in vars(async_cls).items():
        # The client's constructor is the user's; a resource's is the client's business.
        constructor = name == "__init__" and async_cls is Client
        if (name.startswith("_") and not constructor) or not callable(member):
            continue
        sync_member = getattr(sync_cls, ASYNC_TO_SYNC.get(name, name))
        assert parameters(sync_member) == parameters(member), f"{sync_cls.__name__}.{name}"


def test_the_raw_methods_are_the_same_and_take_the_same_parameters():
    async_client = Client("sk_test_surface", base_url="http://127.0.0.1:1")
    sync_client = SyncClient("sk_test_surface", base_url="http://127.0.0.1:1")
    for raw, sync_raw in [
        (RawFulfillments(async_client.fulfillments), sync_client.with_raw_response.fulfillments),
        (
            RawFulfillmentReturns(async_client.fulfillment_returns),
            sync_client.with_raw_response.fulfillment_returns,
        ),
    ]:
        assert isinstance(sync_raw, (SyncRawFulfillments, SyncRawFulfillmentReturns))
        assert set(vars(raw)) == {n for n in vars(sync_raw) if not n.startswith("_")}


def test_the_pager_has_its_sync_twin():
    wanted = {ASYNC_TO_SYNC.get(n, n) for n in public_names(AsyncPager)} - {"__await__"}
    assert wanted <= public_names(SyncPager) | {"__iter__"}
    assert hasattr(SyncPager, "first_page")  # what `await pager` gives


def test_the_drift_check_sees_a_new_async_method(monkeypatch: pytest.MonkeyPatch):
    async def cancel(self: Fulfillments, fulfillment_id: str) -> None: ...

    monkeypatch.setattr(Fulfillments, "cancel", cancel, raising=False)
    async_client = Client("sk_test_surface", base_url="http://127.0.0.1:1")
    sync_client = SyncClient("sk_test_surface", base_url="http://127.0.0.1:1")
    with pytest.raises(AssertionError, match="lacks \\['cancel'\\]"):
        test_every_public_name_has_a_sync_twin(
            async_client.fulfillments, sync_client.fulfillments, "fulfillments"
        )


def test_the_drift_check_sees_a_new_option(monkeypatch: pytest.MonkeyPatch):
    def with_options(self: Client, *, timeout: float = 1.0, priority: int = 0) -> Client: ...

    monkeypatch.setattr(Client, "with_options", with_options)
    with pytest.raises(AssertionError, match="with_options"):
        test_every_method_takes_the_same_parameters(Client, SyncClient)
