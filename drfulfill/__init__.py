"""drfulfill: an async-first SDK for Digital River's Fulfillments and Fulfillment Returns APIs.

async with Client(api_key="sk_test_…") as dr:
    f = await dr.fulfillments.create(order_id="…", items=[FulfillmentRequestItem("…", 1)])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._constants import VERSION as __version__

# ruff: noqa: F405 - __all__ names what ``_public`` imports (a star import, for type checkers)

if TYPE_CHECKING:
    from ._public import *  # noqa: F403

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "Address",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "BulkResult",
    "Client",
    "ClientStats",
    "ConflictError",
    "CoordinationError",
    "CreatedTime",
    "DecodeError",
    "DigitalRiverError",
    "ErrorDetail",
    "Fulfillment",
    "FulfillmentItem",
    "FulfillmentRequest",
    "FulfillmentRequestItem",
    "FulfillmentReturn",
    "FulfillmentReturnItem",
    "FulfillmentReturnItemRequest",
    "FulfillmentReturnItemState",
    "FulfillmentReturnState",
    "FulfillmentReturnType",
    "KeyReuseError",
    "Location",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "UnitAttributes",
    "UpdateFulfillmentItem",
    "ValidationError",
    "WebhookSignatureError",
    "__version__",
]


if not TYPE_CHECKING:  # type checkers see the star import above, not this

    def __getattr__(name: str) -> Any:
        # PEP 562: the public names are imported on first use (see ``_public``).
        if name in __all__:
            from . import _public

            value = getattr(_public, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
