"""Every default of the SDK, named once."""

from __future__ import annotations

from datetime import timedelta

VERSION = "0.1.0"

DEFAULT_BASE_URL = "https://api.digitalriver.com"
API_KEY_ENV = "DR_API_KEY"
BASE_URL_ENV = "DR_BASE_URL"
TEST_KEY_PREFIX = "sk_test_"

# Timeouts, in seconds.
# One attempt, connect to last byte. At least the gateway timeouts seen in front of APIs like
# DR's (29-60 s): a create the client gave up on sooner could still be in process at DR, and
# its settle window (which counts from the failure) would start too early.
DEFAULT_TIMEOUT = 60.0
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
# Most time shards one list() walks at once (list(shards=K)): each keeps a request in flight,
# and more than the default connection pool (100) only queue.
MAX_SHARDS = 100

# Metadata limits (DR API description, "Metadata").
METADATA_MAX_KEYS = 20
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500

# Safe-create protocol.
DEFAULT_IDEMPOTENCY_FIELD = "drfulfillKey"
# Seconds a "not found" must have had to become true before a doubtful create is re-sent,
# counted from when the failure was seen (the 504, the timeout, the drop, the cancellation),
# never from the send. DR publishes neither its gateway timeout nor how far lists lag
# writes; creates answered 504 have been seen to commit 1-3 s later. 10 s covers that three
# times over, and it is paid only after an ambiguous failure (a rare event), never on the
# happy path.
DEFAULT_SETTLE = 10.0
# Keys a client remembers having created or found, so their repeats cost no request.
KNOWN_KEYS_CACHE_SIZE = 10_000

# Bulk.
DEFAULT_BULK_CONCURRENCY = 16
# Rows in flight per request slot: rows waiting out a settle window hold no slot.
BULK_ROWS_PER_SLOT = 4
# bulk_create(since=...) sweeps from this much earlier, for clock skew with Digital River.
BULK_SINCE_MARGIN = timedelta(minutes=5)

# Most characters of a server's text (an error message, a body) that an error message or a
# log line shows; the error's attributes keep the text whole.
MAX_SHOWN_TEXT = 500
# Longer request ids are cut (DR's are UUIDs; a gateway may echo anything into the header).
MAX_REQUEST_ID_LENGTH = 200

# Webhooks (drfulfill.webhooks). DR counts an answer after 3 s as a failed delivery.
WEBHOOK_TOLERANCE = 300.0  # seconds a signature's timestamp may be away from now
WEBHOOK_READ_TIMEOUT = 2.0  # seconds to receive a body, leaving time to answer within 3 s
WEBHOOK_MAX_PENDING = 1000  # on_event runs at once; beyond, deliveries get 503 (DR retries)
WEBHOOK_REPLAY_MEMORY = 100_000  # accepted signatures remembered (while they can verify)
# DR retries a failed delivery for 72 hours in production: ids are remembered a day longer.
WEBHOOK_DEDUPE_TTL = 4 * 24 * 3600.0
WEBHOOK_DEDUPE_MAX_EVENTS = 100_000  # event ids a MemoryDeduplicator remembers
WEBHOOK_DEDUPE_TIMEOUT = 0.5  # seconds a RedisDeduplicator round trip may take

# Headers.
REQUEST_ID_HEADER = "x-dr-requestid"
RETRY_AFTER_HEADER = "Retry-After"

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# SyncClient's event-loop thread (the portal).
# Seconds a Ctrl-C in a sync call waits for the cancelled call to end (its connection
# released) before KeyboardInterrupt is raised; a second Ctrl-C stops the wait at once.
SYNC_CANCEL_GRACE = 1.0
# Seconds the interpreter's exit waits for the portal to close the sessions still open.
SYNC_SHUTDOWN_GRACE = 5.0
