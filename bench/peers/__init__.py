"""The peer systems the benchmark compares against, one small module each.

Each module reads where to connect from the environment that ``bench.run``
sets for the processes it starts:

- ``BENCH_REDIS_URL``: the Redis URL, with the database number to use.
- ``BENCH_PREFIX``: the key namespace or prefix of this measurement.
- ``BENCH_QUEUE``: the queue name.

Every job takes the same three short fields as the product's ``bench.tasks``.
"""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("BENCH_PREFIX", "bench-peer")
QUEUE = os.environ.get("BENCH_QUEUE", "bench")


def latency_key() -> str:
    """Return the Redis list that each peer's latency probe appends to."""
    return f"{PREFIX}:latency"
