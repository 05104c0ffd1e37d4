"""Type-checked, never run: the README's ways to stop a listing early pass mypy --strict."""

from contextlib import aclosing

from drfulfill import Client, CreatedTime, Fulfillment
from drfulfill.models import Page


async def main(dr: Client, window: CreatedTime) -> list[str]:
    out: list[str] = []
    async with aclosing(dr.fulfillments.list(limit=100, prefetch=True).pages()) as pages:
        async for page in pages:
            p: Page[Fulfillment] = page
            out.extend(str(f.id) for f in p.data)
            break
    async with aclosing(aiter(dr.fulfillments.list(created_time=window, shards=8))) as items:
        async for f in items:
            out.append(str(f.id))
    gen = dr.fulfillment_returns.list().pages()
    await gen.aclose()
    return out
