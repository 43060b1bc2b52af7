"""Rate limits per integration, shared by all workers through Redis.

``QUEUE_RATE_LIMITS`` maps a limit name to ``"<count>/<period>"`` with period
``second``, ``minute`` or ``hour``, for example ``{"sms": "10/minute"}``.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from django.conf import settings
from dramatiq.middleware import MiddlewareError
from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

PERIOD_MILLISECONDS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}

_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")


class UnknownRateLimitError(MiddlewareError, LookupError):
    """Raised for a rate limit name that ``QUEUE_RATE_LIMITS`` does not define.

    As a ``MiddlewareError`` it passes through Dramatiq's middleware hooks, so
    an actor naming an unknown limit fails at declaration.
    """


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` operations per ``period_ms`` milliseconds."""

    limit: int
    period_ms: int


def parse_rate(text: str) -> Rate:
    """Parse ``"<count>/<second|minute|hour>"``.

    Raises:
      ValueError: the text has another form or the count is 0.
    """
    match = _RATE_PATTERN.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"Invalid rate {text!r}; expected '<count>/<period>' with count >= 1 and period "
            "second, minute or hour, for example '10/minute'."
        )
    return Rate(limit=int(match.group(1)), period_ms=PERIOD_MILLISECONDS[match.group(2)])


def get_rate(name: str) -> Rate:
    """Return the configured rate of limit ``name``.

    Raises:
      UnknownRateLimitError: ``QUEUE_RATE_LIMITS`` has no such name.
    """
    try:
        return parse_rate(settings.QUEUE_RATE_LIMITS[name])
    except KeyError:
        known = ", ".join(sorted(settings.QUEUE_RATE_LIMITS)) or "none"
        raise UnknownRateLimitError(f"Unknown rate limit {name!r}; configured: {known}.") from None


class RateLimit:
    """One named limit on Dramatiq's bucket rate limiter with the Redis backend.

    A bucket admits ``limit`` operations per period, starting at multiples of
    the period in the workers' clocks. Up to twice the limit can pass around a
    bucket boundary, which suits the limits of the services this guards
    (requests per second or minute), and unlike a sliding window the time at
    which the next slot opens is known.
    """

    def __init__(self, name: str, rate: Rate, backend: RedisBackend, namespace: str) -> None:
        self.name = name
        self.rate = rate
        self.limiter = BucketRateLimiter(
            backend, f"{namespace}:ratelimit:{name}", limit=rate.limit, bucket=rate.period_ms
        )

    def try_acquire(self) -> bool:
        """Take one slot in the current bucket; return False when it is full."""
        with self.limiter.acquire(raise_on_failure=False) as acquired:
            return bool(acquired)

    def delay_until_free_ms(self) -> int:
        """Return the milliseconds until the next bucket opens, plus up to 10 % jitter.

        The jitter spreads jobs that wait for the same bucket, so that they do
        not all come back in the same millisecond.
        """
        now_ms = int(time.time() * 1000)
        remaining = self.rate.period_ms - now_ms % self.rate.period_ms
        return remaining + random.randint(0, self.rate.period_ms // 10)
