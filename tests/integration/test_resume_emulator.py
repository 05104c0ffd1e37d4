"""``await pager`` gives the first page; ``Page.resume_token`` resumes a listing exactly after
that page (forward, backward, max_items, time shards), against the emulator over loopback."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from drfulfill import CreatedTime, Page, ValidationError
from drfulfill.testing import Emulator

from .conftest import KEY, make_client
from .test_listing_emulator import T0, SteppingClock, seed_fulfillments, seed_returns


async def test_awaiting_a_pager_gives_its_first_page(emu, dr):
    await seed_fulfillments(emu, dr, 5)
    page = await dr.fulfillments.list(limit=2)
    assert isinstance(page, Page) and len(page.data) == 2 and page.has_more
    every = [f.id async for f in dr.fulfillments.list(limit=100)]
    assert [f.id for f in page.data] == every[:2]
    whole = await dr.fulfillments.list(limit=100)
    assert len(whole.data) == 5 and not whole.has_more and whole.resume_token is None
    nothing = await dr.fulfillment_returns.list(max_items=0)
    assert nothing == Page(data=[], has_more=False)


async def pages_of(pager):
    return [page async for page in pager.pages()]


@pytest.mark.parametrize("prefetch", [False, True])
async def test_each_pages_token_resumes_exactly_after_it(emu, dr, prefetch):
    await seed_fulfillments(emu, dr, 8)
    pages = await pages_of(dr.fulfillments.list(limit=3, prefetch=prefetch))
    every = [f.id for page in pages for f in page.data]
    assert len(every) == 8 and [page.resume_token is None for page in pages] == [
        False,
        False,
        True,
    ]
    seen = 0
    for page in pages[:-1]:
        seen += len(page.data)
        rest = [f.id async for f in dr.fulfillments.list(limit=2, resume_token=page.resume_token)]
        assert rest == every[seen:]


async def test_a_backward_listing_resumes_backward(emu, dr):
    await seed_fulfillments(emu, dr, 9)
    newest_first = [f.id async for f in dr.fulfillments.list(limit=100)]
    backward = [f.id async for f in dr.fulfillments.list(limit=2, ending_before=newest_first[-1])]
    assert backward == newest_first[-2::-1]
    page = await dr.fulfillments.list(limit=3, ending_before=newest_first[-1])
    rest = [f.id async for f in dr.fulfillments.list(limit=4, resume_token=page.resume_token)]
    assert [f.id for f in page.data] + rest == backward


async def test_max_items_applies_to_the_resumed_listing(emu, dr):
    await seed_fulfillments(emu, dr, 7)
    every = [f.id async for f in dr.fulfillments.list(limit=100)]
    pages = await pages_of(dr.fulfillments.list(limit=3, max_items=4))
    assert [len(p.data) for p in pages] == [3, 1] and pages[-1].has_more
    token = pages[-1].resume_token
    assert [f.id async for f in dr.fulfillments.list(resume_token=token)] == every[4:]
    assert [f.id async for f in dr.fulfillments.list(resume_token=token, max_items=1)] == every[4:5]


async def test_a_token_needs_the_same_filters_and_resource(emu, dr):
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    for _ in range(3):
        await dr.fulfillments.create(order_id=order, items=[{"item_id": "i1", "quantity": 1}])
    token = (await dr.fulfillments.list(order_id=order, limit=1)).resume_token
    assert token is not None
    emu.clear_log()
    refused = [
        lambda: dr.fulfillments.list(order_id="another", resume_token=token),
        lambda: dr.fulfillments.list(resume_token=token),
        lambda: dr.fulfillments.list(order_id=order, tracking_company="X", resume_token=token),
        lambda: dr.fulfillment_returns.list(resume_token=token),
        lambda: dr.fulfillments.list(order_id=order, starting_after="x", resume_token=token),
        lambda: dr.fulfillments.list(order_id=order, resume_token=token[:-1]),
        lambda: dr.fulfillments.list(order_id=order, resume_token=token.replace("drf1", "drf9")),
        lambda: dr.fulfillments.list(order_id=order, resume_token="garbage"),
        lambda: dr.fulfillments.list(order_id=order, resume_token=b"bytes"),  # type: ignore[arg-type]
    ]
    for make in refused:
        with pytest.raises(ValidationError):
            make()
    assert emu.requests == []  # refused before anything was sent
    assert len([f async for f in dr.fulfillments.list(order_id=order, resume_token=token)]) == 2


async def test_a_token_holds_no_secret_and_no_filter_value(emu, dr):
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    for _ in range(2):
        await dr.fulfillments.create(order_id=order, items=[{"item_id": "i1", "quantity": 1}])
    token = (await dr.fulfillments.list(order_id=order, limit=1)).resume_token
    assert token is not None and token.startswith("drf1.")
    payload = token.split(".")[1]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert KEY not in token and KEY not in text and order not in text
    assert set(json.loads(text)) == {"l", "b", "w"}


@pytest.mark.parametrize(
    ("resource", "seed"),
    [("fulfillments", seed_fulfillments), ("fulfillment_returns", seed_returns)],
)
async def test_every_token_of_a_sharded_listing_resumes_exactly_the_rest(resource, seed):
    async with Emulator(rate_limit=None, clock=SteppingClock()) as emu, make_client(emu) as dr:
        await seed(emu, dr, 60)
        listing = getattr(dr, resource)
        window = CreatedTime(gte=T0 + timedelta(seconds=1), lte=T0 + timedelta(seconds=19))
        every = {x.id async for x in listing.list(limit=100, created_time=window)}
        pages = await pages_of(listing.list(limit=4, created_time=window, shards=4))
        assert {x.id for page in pages for x in page.data} == every
        assert pages[-1].resume_token is None
        before: set[str] = set()
        for page in pages[:-1]:
            before |= {x.id for x in page.data}
            if page.resume_token is None:  # possible only once every shard has ended
                assert before == every
                continue
            resumed = listing.list(
                limit=3, created_time=window, shards=4, resume_token=page.resume_token
            )
            rest = [x.id async for x in resumed]
            assert len(rest) == len(set(rest)) and not set(rest) & before
            assert set(rest) | before == every
        with pytest.raises(ValidationError):  # other shards are another listing
            listing.list(created_time=window, shards=3, resume_token=pages[0].resume_token)
        with pytest.raises(ValidationError):
            listing.list(created_time=window, resume_token=pages[0].resume_token)


async def test_a_resumed_token_from_another_client_works():
    async with Emulator(rate_limit=None) as emu:
        async with make_client(emu) as first:
            await seed_fulfillments(emu, first, 4)
            token = (await first.fulfillments.list(limit=2)).resume_token
        async with make_client(emu) as later:  # a later process, say
            assert len([f async for f in later.fulfillments.list(resume_token=token)]) == 2
