"""Type-checked by mypy --strict, never run: the README's bulk loop, ``if res.ok:``."""

from drfulfill import Client, FulfillmentRequest


async def ids(dr: Client, rows: list[FulfillmentRequest]) -> list[str]:
    out: list[str] = []
    async for res in dr.fulfillments.bulk_create(rows):
        if res.ok:
            out.append(res.fulfillment.id)
        else:
            out.append(str(res.error.args))
    return out
