"""Every default of the SDK, named once."""

from __future__ import annotations

from datetime import timedelta

VERSION = "0.1.0"

DEFAULT_BASE_URL = "https://api.digitalriver.com"
API_KEY_ENV = "DR_API_KEY"
BASE_URL_ENV = "DR_BASE_URL"
TEST_KEY_PREFIX = "sk_test_"

# Timeouts, in seconds.
DEFAULT_TIMEOUT = 30.0  # one attempt, connect to last byte
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_DEADLINE = 120.0  # one call, every attempt and wait included

# Retry policy.
DEFAULT_MAX_RETRIES = 4  # attempts = max_retries + 1
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 8.0
DEFAULT_MAX_RETRY_AFTER = 60.0  # a longer Retry-After is raised, not slept through

# Digital River's per-key rate limits, requests per second.
TEST_RATE_LIMIT = 25.0
LIVE_RATE_LIMIT = 250.0

# Priority lanes: bulk requests leave this many request intervals of the burst allowance
# (at most half of it) to interactive ones, which so find a slot within one interval.
INTERACTIVE_HEADROOM = 1.0

# Connection pool.
DEFAULT_CONNECTION_LIMIT = 100

# Most bytes of a response body read: a longer 2xx body is a DecodeError.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024

# Pagination (GET list endpoints).
DEFAULT_PAGE_SIZE = 10
MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 100

# Metadata limits (DR API description, "Metadata").
METADATA_MAX_KEYS = 20
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500

# Safe-create protocol.
DEFAULT_IDEMPOTENCY_FIELD = "drfulfillKey"
# Seconds a "not found" must have had to become true before a doubtful create is re-sent.
# DR publishes neither its gateway timeout nor how far lists lag writes; creates answered
# 504 have been seen to commit 1-3 s later. 10 s covers that three times over, and it is
# paid only after an ambiguous failure (a rare event), never on the happy path.
DEFAULT_SETTLE = 10.0
# Keys a client remembers having created or found, so their repeats cost no request.
KNOWN_KEYS_CACHE_SIZE = 10_000

# Bulk.
DEFAULT_BULK_CONCURRENCY = 16
# Rows in flight per request slot: rows waiting out a settle window hold no slot.
BULK_ROWS_PER_SLOT = 4
# bulk_create(since=...) sweeps from this much earlier, for clock skew with Digital River.
BULK_SINCE_MARGIN = timedelta(minutes=5)

# Headers.
REQUEST_ID_HEADER = "x-dr-requestid"
RETRY_AFTER_HEADER = "Retry-After"

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
