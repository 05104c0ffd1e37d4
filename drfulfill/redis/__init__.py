"""Fleets on Redis: ``pip install 'drfulfill[redis]'`` (redis-py's asyncio client).

``RedisCoordinator(url)`` gives every process that uses one API key a shared rate limit, a
shared 429 pause and exactly-once claims on safe-create keys. Needs Redis >= 5.
"""

from ._claims import RedisClaim, RedisClaimStore
from ._coordinator import RedisCoordinator, key_prefix
from ._limiter import RedisLimiter

__all__ = ["RedisClaim", "RedisClaimStore", "RedisCoordinator", "RedisLimiter", "key_prefix"]
