"""Streaming statistics: per-minute windows, merged windows of several minutes, and their aggregates.

A shard keeps, per robot, the samples of the current minute (and of the minute before, during its grace
period) as flat float arrays: 8 bytes a value, no object per sample. When a minute closes, its statistics
come from :func:`fleetray.features.windows.window_summary`, the code the bag pipeline computes its windows
with, and only those are kept. Windows of several minutes are merged from the closed minutes' aggregates.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from fleetray.features.windows import window_summary

NAN = math.nan
Names = tuple[str, ...]


_ATTRIBUTE_OF = {"min": "low", "max": "high"}


@dataclass(slots=True)
class Aggregate:
    """The statistics of one signal over a window (see :func:`~fleetray.features.windows.window_summary`).

    Count, mean, std, min, max, last and anomaly merge exactly across windows; percentiles, slope and
    rate do not, and a merged window has them as NaN.
    """

    n: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float = NAN
    squares: float = 0.0  # the sum of squared deviations from the mean
    p05: float = NAN
    p50: float = NAN
    p95: float = NAN
    slope_per_s: float = NAN
    rate_hz: float = NAN
    anomaly: float = NAN

    def add(self, value: float) -> None:
        """Fold in one value (values must arrive in time order for ``last``)."""
        self.merge(Aggregate(1, value, value, value, value))

    def merge(self, later: Aggregate) -> None:
        """Fold in the aggregate of a later stretch of time."""
        if not later.n:
            return
        if not self.n:  # nothing to merge with: the later window's statistics, all of them
            for name in self.__slots__:
                setattr(self, name, getattr(later, name))
            return
        n = self.n + later.n
        delta = later.mean - self.mean
        self.squares += later.squares + delta * delta * self.n * later.n / n
        self.n, self.total = n, self.total + later.total
        self.low, self.high, self.last = min(self.low, later.low), max(self.high, later.high), later.last
        self.anomaly = later.anomaly if math.isnan(self.anomaly) else max(self.anomaly, later.anomaly)
        self.p05 = self.p50 = self.p95 = self.slope_per_s = self.rate_hz = NAN

    @property
    def mean(self) -> float:
        """The mean, NaN when empty."""
        return self.total / self.n if self.n else NAN

    @property
    def std(self) -> float:
        """The population standard deviation, NaN when empty."""
        return math.sqrt(self.squares / self.n) if self.n else NAN

    def statistic(self, name: str) -> float:
        """One statistic by its name in :data:`~fleetray.features.windows.STATISTICS`."""
        return getattr(self, _ATTRIBUTE_OF.get(name, name))

    def as_dict(self) -> dict[str, float]:
        """Every statistic by its name in :data:`~fleetray.features.windows.STATISTICS`."""
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "min": self.low,
            "max": self.high,
            "p05": self.p05,
            "p50": self.p50,
            "p95": self.p95,
            "slope_per_s": self.slope_per_s,
            "rate_hz": self.rate_hz,
            "last": self.last,
            "anomaly": self.anomaly,
        }

    @classmethod
    def from_summary(cls, summary: dict[str, list[float]], column: int) -> Aggregate:
        """One signal's aggregate out of :func:`~fleetray.features.windows.window_summary`'s columns, as lists."""
        n = int(summary["n"][column])
        return cls(
            n,
            summary["mean"][column] * n,
            summary["min"][column],
            summary["max"][column],
            summary["last"][column],
            summary["std"][column] ** 2 * n,
            summary["p05"][column],
            summary["p50"][column],
            summary["p95"][column],
            summary["slope_per_s"][column],
            summary["rate_hz"][column],
            summary["anomaly"][column],
        )


class _Rows:
    """Named values of successive samples, NaN where a sample lacks one.

    Row after row in one flat array while every sample names the same values in the same order (the usual
    case: a robot reports the same fields every second, and a sample costs one ``extend``), column by
    column from the first sample that does not.
    """

    __slots__ = ("columns", "flat", "names", "rows")

    def __init__(self) -> None:
        self.names: tuple[str, ...] | None = None
        self.flat = array("d")
        self.columns: dict[str, array] | None = None
        self.rows = 0

    def append(self, names: Names, values: list[float]) -> None:
        """One sample's ``values``, named by ``names`` in the same order."""
        if self.columns is None:
            if self.names is None:
                self.names = names
            if names is self.names or names == self.names:
                self.flat.fromlist(values)  # a list converts in one C loop; an iterator does not
                self.rows += 1
                return
            if not names:  # a sample with none of the values (an idle robot's anomaly scores)
                self.flat.extend(array("d", [NAN]) * len(self.names))
                self.rows += 1
                return
            self._to_columns()
        columns, count = self.columns, self.rows
        for name, value in zip(names, values, strict=True):
            column = columns.get(name)
            if column is None:
                column = columns[name] = array("d", [NAN]) * count
            elif len(column) < count:  # the value was missing from the samples since its last one
                column.extend([NAN] * (count - len(column)))
            column.append(value)
        self.rows += 1

    def _to_columns(self) -> None:
        width = len(self.names or ())
        self.columns = {name: self.flat[k::width] for k, name in enumerate(self.names or ())}
        self.flat = array("d")

    def seen(self) -> list[str]:
        """The names of the values any sample had, in the order they first came."""
        return list(self.names or ()) if self.columns is None else list(self.columns)

    def matrix(self, names: list[str]) -> np.ndarray:
        """(rows, len(names)): each named value per sample, NaN where absent."""
        if self.columns is None and self.names is not None and list(self.names) == names:
            return np.frombuffer(self.flat).reshape(self.rows, len(names))
        matrix = np.full((self.rows, len(names)), NAN)
        if self.columns is None:
            if self.names:
                block = np.frombuffer(self.flat).reshape(self.rows, len(self.names))
                position = {name: k for k, name in enumerate(self.names)}
                for i, name in enumerate(names):
                    if name in position:
                        matrix[:, i] = block[:, position[name]]
            return matrix
        for i, name in enumerate(names):
            column = self.columns.get(name)
            if column is not None:
                matrix[: len(column), i] = np.frombuffer(column)
        return matrix


class MinuteSamples:
    """The samples of one minute: their times, signals and anomaly scores."""

    __slots__ = ("scores", "signals", "times")

    def __init__(self) -> None:
        self.times = array("d")
        self.signals = _Rows()
        self.scores = _Rows()

    def append(self, moment: float, names: Names, values: list[float], scored: Names, scores: list[float]) -> None:
        """Append one sample (at ``moment``, seconds since the epoch): its signals' ``names`` and ``values``, and the
        anomaly ``scores`` of its ``scored`` signals."""
        self.times.append(moment)
        self.signals.append(names, values)
        self.scores.append(scored, scores)

    def summarise(self) -> dict[str, Aggregate]:
        """Every signal's statistics over the minute, by :func:`~fleetray.features.windows.window_summary`."""
        names = self.signals.seen()
        if not names:
            return {}
        summary = window_summary(np.frombuffer(self.times), self.signals.matrix(names), self.scores.matrix(names))
        lists = {statistic: values.tolist() for statistic, values in summary.items()}
        return {name: Aggregate.from_summary(lists, i) for i, name in enumerate(names)}


class ClosedMinute:
    """A robot's closed minute: its samples until summarised, then their statistics."""

    __slots__ = ("_aggregates", "bucket", "samples", "start")

    def __init__(self, bucket: int, samples: MinuteSamples) -> None:
        self.bucket = bucket
        self.start = datetime.fromtimestamp(bucket * 60, UTC)
        self.samples: MinuteSamples | None = samples  # None once summarised
        self._aggregates: dict[str, Aggregate] | None = None

    @property
    def aggregates(self) -> dict[str, Aggregate]:
        """The minute's statistics (summarised now if :func:`summarise_minutes` has not)."""
        if self._aggregates is None:
            self.settle(self.samples.summarise() if self.samples is not None else {})
        return self._aggregates

    def settle(self, aggregates: dict[str, Aggregate]) -> None:
        """Keep the minute's statistics, and let its samples go."""
        self._aggregates, self.samples = aggregates, None


def summarise_minutes(minutes: list[ClosedMinute]) -> None:
    """Summarise many robots' closed minutes in one :func:`window_summary` call, side by side.

    Each minute's signals become columns of one matrix (shorter minutes padded with missing values), so a
    shard closing a few minutes in a batch pays numpy's per-call overhead once instead of per minute.
    """
    blocks = [(m, m.samples.signals.seen(), m.samples) for m in minutes if m.samples is not None]
    width = sum(len(names) for _, names, _ in blocks)
    if not width:
        for minute, _, _ in blocks:
            minute.settle({})
        return
    depth = max(len(samples.times) for _, _, samples in blocks)
    values = np.full((depth, width), NAN)
    scores = np.full((depth, width), NAN)
    times = np.full((depth, width), NAN)
    column = 0
    for _, names, samples in blocks:
        rows, end = len(samples.times), column + len(names)
        values[:rows, column:end] = samples.signals.matrix(names)
        scores[:rows, column:end] = samples.scores.matrix(names)
        times[:rows, column:end] = np.frombuffer(samples.times)[:, None]
        column = end
    summary = window_summary(times, values, scores)
    lists = {statistic: statistic_values.tolist() for statistic, statistic_values in summary.items()}
    column = 0
    for minute, names, _ in blocks:
        minute.settle({name: Aggregate.from_summary(lists, column + i) for i, name in enumerate(names)})
        column += len(names)


class MinuteAggregator:
    """Windows signals by UTC minute, closing each minute ``grace_s`` seconds after it ends.

    Until then a late sample still counts in its minute; the minute closes with the first sample
    that arrives at least ``grace_s`` into the minute after it (not on a timer: a silent robot's
    last minute stays open). Staggering ``grace_s`` per robot spreads the closing of ten thousand
    robots' minutes over many seconds instead of the first second of every minute. The last
    ``keep`` closed minutes' aggregates are kept, so windows of a few minutes are merged from them
    instead of keeping every sample.
    """

    __slots__ = ("bucket", "closed", "closing", "grace_s", "samples")

    def __init__(self, keep: int = 4, grace_s: float = 0.0) -> None:
        self.grace_s = grace_s
        self.bucket: int | None = None
        self.samples = MinuteSamples()
        self.closing: tuple[int, MinuteSamples] | None = None  # the minute before, in its grace period
        self.closed: deque[ClosedMinute] = deque(maxlen=keep)

    @property
    def current(self) -> dict[str, Aggregate]:
        """The statistics of the current minute so far."""
        return self.samples.summarise()

    @property
    def previous(self) -> dict[str, Aggregate]:
        """The statistics of the minute just before the current one, empty if it had no samples."""
        if self.bucket is None:
            return {}
        if self.closing is not None and self.closing[0] == self.bucket - 1:
            return self.closing[1].summarise()
        if self.closed and self.closed[-1].bucket == self.bucket - 1:
            return self.closed[-1].aggregates
        return {}

    def add(
        self, ts: datetime, signals: dict[str, float], scores: dict[str, float] | None = None
    ) -> list[tuple[datetime, dict[str, Aggregate]]]:
        """Fold in one sample and the anomaly scores its signals got; return the minutes it closed (usually
        none), with their statistics."""
        return [(minute.start, minute.aggregates) for minute in self.add_deferred(ts, signals, scores)]

    def add_deferred(
        self, ts: datetime, signals: dict[str, float], scores: dict[str, float] | None = None
    ) -> list[ClosedMinute]:
        """:meth:`add`, returning the closed minutes unsummarised: a shard summarises a batch's closed
        minutes together (:func:`summarise_minutes`)."""
        scores = scores or {}
        return self.append(ts, tuple(signals), [*signals.values()], tuple(scores), [*scores.values()])

    def append(
        self, ts: datetime, names: Names, values: list[float], scored: Names, scores: list[float]
    ) -> list[ClosedMinute]:
        """:meth:`add_deferred` with the signals and scores as names and values in the same order, as a shard
        has them: no dict per sample to build and take apart again."""
        moment = ts.timestamp()
        minute = int(moment // 60)
        if minute == self.bucket and self.closing is None:  # nearly every sample: nothing closes
            self.samples.append(moment, names, values, scored, scores)
            return []
        closed = []
        if self.bucket is None:
            self.bucket = minute
        elif minute > self.bucket:
            if self.closing is not None:
                closed.append(self._close(self.closing))
            self.closing = (self.bucket, self.samples)
            self.samples, self.bucket = MinuteSamples(), minute
        if self.closing is not None and moment >= (self.closing[0] + 1) * 60 + self.grace_s:
            closed.append(self._close(self.closing))
            self.closing = None
        if minute == self.bucket:
            self.samples.append(moment, names, values, scored, scores)
        elif self.closing is not None and minute == self.closing[0]:
            self.closing[1].append(moment, names, values, scored, scores)
        # else: later than the grace period: stored raw, not re-aggregated live
        return closed

    def _close(self, minute: tuple[int, MinuteSamples]) -> ClosedMinute:
        closed = ClosedMinute(*minute)
        self.closed.append(closed)
        return closed

    def window(self, minutes: int) -> dict[str, Aggregate]:
        """Signals aggregated over the current minute and the ``minutes - 1`` before it (mergeable
        statistics only: see :class:`Aggregate`)."""
        merged: dict[str, Aggregate] = {}
        if self.bucket is None:
            return merged
        parts = [(minute.bucket, minute.aggregates) for minute in self.closed]
        if self.closing is not None:
            parts.append((self.closing[0], self.closing[1].summarise()))
        parts.append((self.bucket, self.current))
        for bucket, aggregates in sorted(parts, key=lambda part: part[0]):
            if bucket > self.bucket - minutes:
                for name, aggregate in aggregates.items():
                    merged.setdefault(name, Aggregate()).merge(aggregate)
        return merged
