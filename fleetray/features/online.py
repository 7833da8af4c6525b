"""Streaming statistics: per-minute aggregates, a sliding window, and robust anomaly scores.

Pure Python, constant memory per signal, so a fleet shard can keep them for thousands of robots.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
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

    @property
    def mean(self) -> float:
        """The mean, NaN when empty."""
        return self.total / self.n if self.n else math.nan

    def as_dict(self) -> dict[str, float]:
        """``{n, mean, min, max, last}``."""
        return {"n": self.n, "mean": self.mean, "min": self.low, "max": self.high, "last": self.last}


@dataclass
class MinuteAggregator:
    """Aggregates signals by UTC minute; a minute closes when a sample of a later minute arrives."""

    bucket: int | None = None
    current: dict[str, Aggregate] = field(default_factory=dict)
    previous: dict[str, Aggregate] = field(default_factory=dict)
    previous_bucket: int | None = None

    def add(self, ts: datetime, signals: dict[str, float]) -> tuple[datetime, dict[str, Aggregate]] | None:
        """Fold in one sample; return the minute it closed, with its aggregates, if it closed one."""
        minute = int(ts.timestamp()) // 60
        closed = None
        if self.bucket is None:
            self.bucket = minute
        elif minute > self.bucket:
            closed = (datetime.fromtimestamp(self.bucket * 60, UTC), self.current)
            self.previous, self.previous_bucket = self.current, self.bucket
            self.current, self.bucket = {}, minute
        elif minute < self.bucket:
            return None  # a late sample of a closed minute: stored raw, not re-aggregated live
        for name, value in signals.items():
            aggregate = self.current.get(name)
            if aggregate is None:
                aggregate = self.current[name] = Aggregate()
            aggregate.add(value)
        return closed


class SlidingWindow:
    """The last ``seconds`` of samples, summarised on demand."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._samples: deque[tuple[float, dict[str, float]]] = deque()

    def add(self, ts: datetime, signals: dict[str, float]) -> None:
        """Append a sample and forget those that fell out of the window."""
        now = ts.timestamp()
        self._samples.append((now, signals))
        while self._samples and self._samples[0][0] <= now - self.seconds:
            self._samples.popleft()

    def summary(self) -> dict[str, dict[str, float]]:
        """Per signal: n, mean, min, max, last over the window."""
        aggregates: dict[str, Aggregate] = {}
        for _, signals in self._samples:
            for name, value in signals.items():
                aggregate = aggregates.get(name)
                if aggregate is None:
                    aggregate = aggregates[name] = Aggregate()
                aggregate.add(value)
        return {name: aggregate.as_dict() for name, aggregate in aggregates.items()}


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
