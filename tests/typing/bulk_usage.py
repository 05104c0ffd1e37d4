"""Type-checked, never run: a bulk result's ``ok`` narrows ``fulfillment`` and ``error``.

mypy --strict narrows on ``if res.ok:``; pyright (run by ``.ci/run``) on ``res.ok is True``,
``isinstance`` and ``match``.
"""

from drfulfill import BulkFailure, BulkSuccess, Client, FulfillmentRequest


async def ids(dr: Client, rows: list[FulfillmentRequest]) -> list[str]:
    out: list[str] = []
    async for res in dr.fulfillments.bulk_create(rows):
        if res.ok is True:
            out.append(res.fulfillment.id)
        else:
            out.append(str(res.error.args))
        if isinstance(res, BulkSuccess):
            out.append(res.fulfillment.order_id)
        match res:
            case BulkSuccess(fulfillment=fulfillment):
                out.append(fulfillment.id)
            case BulkFailure(error=error):
                out.append(type(error).__name__)
    return out
