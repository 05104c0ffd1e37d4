"""drfulfill: an async-first SDK for Digital River's Fulfillments and Fulfillment Returns APIs.

async with Client(api_key="sk_test_…") as dr:
    f = await dr.fulfillments.create(order_id="…", items=[FulfillmentRequestItem("…", 1)])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._constants import VERSION as __version__
from ._lazy import lazy_exports

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
    "BulkFailure",
    "BulkResult",
    "BulkSuccess",
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
    "SyncClient",
    "SyncPager",
    "UnitAttributes",
    "UpdateFulfillmentItem",
    "ValidationError",
    "WebhookSignatureError",
    "__version__",
]


if not TYPE_CHECKING:  # type checkers see the star import above, not this
    __getattr__, __dir__ = lazy_exports(__name__, __all__, globals())
