"""Every public name of ``drfulfill``, imported eagerly. ``drfulfill/__init__.py`` loads this
module on the first access to one of them, so that importing a submodule that needs none
(the pytest plugin, which pytest imports in every project that has drfulfill installed)
costs no aiohttp, cattrs or tenacity import."""

# `X as X`: an explicit re-export for type checkers; one block per module, not isort's
# one per name.
from ._client import (  # noqa: I001
    Client as Client,
)
from ._raw import (
    APIResponse as APIResponse,
)
from ._retry import (
    RetryPolicy as RetryPolicy,
)
from ._session import (
    ClientStats as ClientStats,
)
from ._sync import (
    SyncClient as SyncClient,
    SyncPager as SyncPager,
)
from .errors import (
    APIConnectionError as APIConnectionError,
    APIError as APIError,
    APITimeoutError as APITimeoutError,
    AuthenticationError as AuthenticationError,
    BadRequestError as BadRequestError,
    ConflictError as ConflictError,
    CoordinationError as CoordinationError,
    DecodeError as DecodeError,
    DigitalRiverError as DigitalRiverError,
    ErrorDetail as ErrorDetail,
    KeyReuseError as KeyReuseError,
    NotFoundError as NotFoundError,
    PermissionDeniedError as PermissionDeniedError,
    RateLimitError as RateLimitError,
    ServerError as ServerError,
    ValidationError as ValidationError,
    WebhookSignatureError as WebhookSignatureError,
)
from .models import (
    Address as Address,
    BulkFailure as BulkFailure,
    BulkResult as BulkResult,
    BulkSuccess as BulkSuccess,
    CreatedTime as CreatedTime,
    Fulfillment as Fulfillment,
    FulfillmentItem as FulfillmentItem,
    FulfillmentRequest as FulfillmentRequest,
    FulfillmentRequestItem as FulfillmentRequestItem,
    FulfillmentReturn as FulfillmentReturn,
    FulfillmentReturnItem as FulfillmentReturnItem,
    FulfillmentReturnItemRequest as FulfillmentReturnItemRequest,
    FulfillmentReturnItemState as FulfillmentReturnItemState,
    FulfillmentReturnState as FulfillmentReturnState,
    FulfillmentReturnType as FulfillmentReturnType,
    Location as Location,
    Page as Page,
    UnitAttributes as UnitAttributes,
    UpdateFulfillmentItem as UpdateFulfillmentItem,
)
from .pagination import (
    AsyncPager as AsyncPager,
    PaginationError as PaginationError,
)
