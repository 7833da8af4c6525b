"""Streaming statistics: per-minute aggregates, windows merged from them, and robust anomaly scores.

Pure Python, constant memory per signal, so a fleet shard can keep them for thousands of robots.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(slots=True)
class Aggregate:
    """Count, mean, min, max and last value of one signal over a window."""

    n: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float = math.nan

    def add(self, value: float) -> None:
        """Fold in one value (values must arrive in time order for ``last``)."""
        self.n += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.last = value

    def merge(self, later: Aggregate) -> None:
        """Fold in the aggregate of a later stretch of time."""
        self.n += later.n
        self.total += later.total
        self.low = min(self.low, later.low)
        self.high = max(self.high, later.high)
        if later.n:
            self.last = later.last

    @property
    def mean(self) -> float:
        """The mean, NaN when empty."""
        return self.total / self.n if self.n else math.nan

    def as_dict(self) -> dict[str, float]:
        """``{n, mean, min, max, last}``."""
        return {"n": self.n, "mean": self.mean, "min": self.low, "max": self.high, "last": self.last}


class MinuteAggregator:
    """Aggregates signals by UTC minute, closing each minute ``grace_s`` seconds after it ends.

    Until then a late sample still counts in its minute; the minute closes with the first sample
    that arrives at least ``grace_s`` into the minute after it (not on a timer: a silent robot's
    last minute stays open). Staggering ``grace_s`` per robot spreads the closing of ten thousand
    robots' minutes over many seconds instead of the first second of every minute. The last
    ``keep`` closed minutes are kept, so windows of a few minutes are merged from minute buckets
    instead of keeping every sample.
    """

    def __init__(self, keep: int = 4, grace_s: float = 0.0) -> None:
        self.grace_s = grace_s
        self.bucket: int | None = None
        self.current: dict[str, Aggregate] = {}
        self.closing: tuple[int, dict[str, Aggregate]] | None = None  # the minute before, in its grace period
        self.closed: deque[tuple[int, dict[str, Aggregate]]] = deque(maxlen=keep)

    @property
    def previous(self) -> dict[str, Aggregate]:
        """The aggregates of the minute just before the current one, empty if it had no samples."""
        for minute in (self.closing, self.closed[-1] if self.closed else None):
            if minute is not None and self.bucket is not None and minute[0] == self.bucket - 1:
                return minute[1]
        return {}

    def add(self, ts: datetime, signals: dict[str, float]) -> list[tuple[datetime, dict[str, Aggregate]]]:
        """Fold in one sample; return the minutes it closed (usually none), with their aggregates."""
        moment = ts.timestamp()
        minute = int(moment // 60)
        closed = []
        if self.bucket is None:
            self.bucket = minute
        elif minute > self.bucket:
            if self.closing is not None:
                closed.append(self._close(self.closing))
            self.closing = (self.bucket, self.current)
            self.current, self.bucket = {}, minute
        if self.closing is not None and moment >= (self.closing[0] + 1) * 60 + self.grace_s:
            closed.append(self._close(self.closing))
            self.closing = None
        if minute == self.bucket:
            target = self.current
        elif self.closing is not None and minute == self.closing[0]:
            target = self.closing[1]
        else:
            return closed  # later than the grace period: stored raw, not re-aggregated live
        # Inlined Aggregate.add: this loop runs for every signal of every sample a shard receives.
        for name, value in signals.items():
            aggregate = target.get(name)
            if aggregate is None:
                target[name] = Aggregate(1, value, value, value, value)
                continue
            aggregate.n += 1
            aggregate.total += value
            if value < aggregate.low:
                aggregate.low = value
            elif value > aggregate.high:
                aggregate.high = value
            aggregate.last = value
        return closed

    def _close(self, minute: tuple[int, dict[str, Aggregate]]) -> tuple[datetime, dict[str, Aggregate]]:
        self.closed.append(minute)
        return datetime.fromtimestamp(minute[0] * 60, UTC), minute[1]

    def window(self, minutes: int) -> dict[str, Aggregate]:
        """Signals aggregated over the current minute and the ``minutes - 1`` before it."""
        merged: dict[str, Aggregate] = {}
        if self.bucket is None:
            return merged
        parts = [*self.closed, *([self.closing] if self.closing else []), (self.bucket, self.current)]
        for bucket, aggregates in parts:
            if bucket > self.bucket - minutes:
                for name, aggregate in aggregates.items():
                    merged.setdefault(name, Aggregate()).merge(aggregate)
        return merged


@dataclass
class EwmaScore:
    """An exponentially weighted mean and variance; scores a value by its z-score before learning it.

    ``warmup`` samples pass before any score is given, so a new robot does not alert on its first
    readings; the variance has a floor so a constant signal does not make every change infinite.
    """

    alpha: float = 0.02
    warmup: int = 60
    floor: float = 1e-6
    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def score(self, value: float) -> float:
        """The |z| of ``value`` against what came before (0 while warming up); then learn it."""
        z = 0.0
        if self.n >= self.warmup:
            z = abs(value - self.mean) / math.sqrt(max(self.var, self.floor * max(1.0, abs(self.mean))))
        if self.n == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += self.alpha * delta
            self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.n += 1
        return z
