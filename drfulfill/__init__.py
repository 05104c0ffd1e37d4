"""drfulfill: an async-first SDK for Digital River's Fulfillments and Fulfillment Returns APIs.

async with Client(api_key="sk_test_…") as dr:
    f = await dr.fulfillments.create(order_id="…", items=[FulfillmentRequestItem("…", 1)])
"""

from ._client import Client
from ._constants import VERSION as __version__
from ._retry import RetryPolicy
from ._session import ClientStats
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CoordinationError,
    DecodeError,
    DigitalRiverError,
    ErrorDetail,
    KeyReuseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
    WebhookSignatureError,
)
from .models import (
    Address,
    BulkResult,
    CreatedTime,
    Fulfillment,
    FulfillmentItem,
    FulfillmentRequest,
    FulfillmentRequestItem,
    FulfillmentReturn,
    FulfillmentReturnItem,
    FulfillmentReturnItemRequest,
    FulfillmentReturnItemState,
    FulfillmentReturnState,
    FulfillmentReturnType,
    Location,
    Page,
    UnitAttributes,
    UpdateFulfillmentItem,
)
from .pagination import AsyncPager, PaginationError

__all__ = [
    "APIConnectionError",
    "APIError",
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
