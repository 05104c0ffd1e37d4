"""Type-checked, never run: SyncClient's surface as mypy --strict and pyright see it."""

from datetime import datetime, timezone

from drfulfill import (
    APIResponse,
    BulkSuccess,
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentReturn,
    Page,
    SyncClient,
    SyncPager,
)


def use() -> list[str]:
    out: list[str] = []
    with SyncClient("sk_test_x", timeout=5.0, rate_limit=None) as dr:
        f: Fulfillment = dr.fulfillments.create(
            order_id="o", items=[{"item_id": "i", "quantity": 1}], key="k"
        )
        f = dr.fulfillments.create(FulfillmentRequest("o", [{"item_id": "i", "quantity": 1}]))
        f = dr.fulfillments.retrieve(f.id)
        f = dr.fulfillments.update(f.id, tracking_number="1Z")
        found: Fulfillment | None = dr.fulfillments.find_by_key("o", "k")
        pager: SyncPager[Fulfillment] = dr.fulfillments.list(
            order_id="o", created_time=CreatedTime(gte=datetime(2026, 1, 1, tzinfo=timezone.utc))
        )
        out.extend(x.id for x in pager)
        for page in dr.fulfillments.list(limit=100).pages():
            p: Page[Fulfillment] = page
            token: str | None = p.resume_token
            out.append(str(token))
        first: Page[Fulfillment] = dr.fulfillments.list(limit=10).first_page()
        out.append(str(first.has_more))
        for res in dr.fulfillments.bulk_create([], concurrency=4):
            if isinstance(res, BulkSuccess):
                out.append(res.fulfillment.id)
        r: FulfillmentReturn = dr.fulfillment_returns.retrieve("ret_1")
        out.extend(x.id for x in dr.fulfillment_returns.list(state="pending"))
        fast = dr.with_options(timeout=2, max_retries=0)
        view: SyncClient = fast
        out.append(view.fulfillments.retrieve("ful_1").id)
        raw: APIResponse[Fulfillment] = dr.with_raw_response.fulfillments.retrieve("ful_1")
        out.append(str(raw.status))
        out.append(str(dr.stats.requests) + r.id + str(found))
    dr.close()
    return out
