"""A deterministic simulation of exactly once: workers, Digital River and Redis, from a seed.

``python -m drfulfill.testing.simulate --runs 2000 --seed 1`` runs drfulfill's real code (the
``Client``, its safe-create loop and decisions, ``bulk_create`` with its journal, the
``RedisCoordinator``'s claims) against Digital River in process (the emulator's store behind
a stand-in for the aiohttp session) and an in-process Redis (the claim scripts' Python twins),
under one virtual clock: no sockets, no real sleeps, every scheduling and fault decision drawn
from the run's seed, so a run replays exactly. Needs the ``redis`` extra.

Each run draws its faults (late commits, slow gateways, dropped answers, 5xx, 429, lagging
lists, per-message timeouts, redelivery, worker crashes, a worker cut off from Redis, Redis
flushed, DR's clock skewed) and checks, once every message and row has its outcome: no key is
on two fulfillments, every message and row ended with an outcome, no create ran past its
deadline. A run whose faults went beyond a documented limit (a create committed later than the
settle window after its failure was seen; DR's clock off by more than the sweeps' 5-minute
margin) is counted as outside the promise, naming the limit. See ``simulate`` and the
README's "Simulating exactly once".
"""

from ._run import Summary, simulate
from ._world import Options, Result

__all__ = ["Options", "Result", "Summary", "simulate"]
