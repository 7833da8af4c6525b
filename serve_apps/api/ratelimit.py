"""Rate limits per API key, with the wait a refused caller is told in Retry-After."""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class KeyRateLimiter:
    """Every limit of ``spec`` (e.g. ``"50/second;2000/minute"``) applies to each key on its own.

    Counts are kept per process: with N replicas a key may reach N times the rate, which the
    setting's default leaves room for.
    """

    def __init__(self, spec: str) -> None:
        self._limits = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key_id: str) -> float | None:
        """Count a request; None if allowed, else the seconds until the key may call again."""
        for limit in self._limits:
            if not self._limiter.hit(limit, "api", key_id):
                reset_at = self._limiter.get_window_stats(limit, "api", key_id).reset_time
                return max(1.0, math.ceil(reset_at - time.time()))
        return None
