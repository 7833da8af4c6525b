"""Model features: a versioned definition, folded window by window the same way online and in batch.

A :class:`FeatureSet` names, per signal, which window statistic to follow (a window's statistics come
from :func:`fleetray.features.windows.window_summary`: the shards' closed minutes, ``telemetry_1m``, or
windows of any table's rows) and the half-lives over which to smooth it. :class:`FeatureState` folds
windows into exponentially weighted averages for many units at once: a shard folds one robot's minute
when it closes, a training job folds a whole history, step by step across all units. Both run the same
arithmetic, so a model sees in production exactly the numbers it was trained on.

Per followed statistic the features are ``{signal}:{statistic}:last`` (the latest window),
``:ewm{h}`` for each half-life ``h`` (in the windows' time unit) and ``:trend`` (the shortest
half-life's average minus the longest's: a rising current shows as a positive trend).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fleetray.features.windows import STATISTICS

# Bumped whenever the arithmetic below changes: a model trained before then gets another version.
FEATURE_CODE_VERSION = 1


class SignalFeature(BaseModel):
    """One followed statistic of one signal.

    Attributes:
        signal: the signal's flat name (``components.vacuum.current_a``), or a column of a table.
        statistic: which window statistic to follow (one of ``window_summary``'s).
        active_above: windows whose statistic is at or below this are skipped (a brush's current while
            it does not run says nothing about its wear); None keeps every window.
        missing: the value of a window without the signal (0 for counts of events); None skips it.
        informs: the components whose failure this signal speaks of; a model of one component learns
            only from the signals that inform it (and the conditions). Empty: every component.
        cumulative: a counter that only grows between renewals (hours of use, charge cycles): it says how
            old a part is, not how it behaves, so anomaly detectors leave it out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal: str = Field(min_length=1)
    statistic: str = "mean"
    active_above: float | None = None
    missing: float | None = None
    informs: tuple[str, ...] = ()
    cumulative: bool = False

    @field_validator("statistic")
    @classmethod
    def _known_statistic(cls, value: str) -> str:
        if value not in STATISTICS:
            raise ValueError(f"statistic {value!r} is not one of {', '.join(STATISTICS)}")
        return value

    @property
    def key(self) -> str:
        """``signal:statistic``, the prefix of this signal's feature names."""
        return f"{self.signal}:{self.statistic}"


class FeatureSet(BaseModel):
    """What a model sees: followed statistics, smoothing half-lives and condition columns.

    Attributes:
        name: a label for people; the :attr:`version` identifies the definition.
        signals: the followed statistics.
        half_lives: half-lives of the moving averages, in the windows' time unit (minutes for the
            platform, cycles or seconds for a table).
        conditions: categorical or numeric columns describing the unit's kind or operating
            condition (the robot's model; an engine's operating setting), passed through.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "features"
    signals: tuple[SignalFeature, ...] = Field(min_length=1)
    half_lives: tuple[float, ...] = (15.0, 240.0)
    conditions: tuple[str, ...] = ()

    @field_validator("half_lives")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not math.isfinite(h) or h <= 0 for h in value):
            raise ValueError(f"half_lives must be one or more positive numbers, got {list(value)}")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _unique(self) -> FeatureSet:
        keys = [s.key for s in self.signals]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"signals follow {', '.join(duplicated)} more than once")
        return self

    @functools.cached_property
    def version(self) -> str:
        """A hash of the definition and of the feature code: equal versions compute equal features."""
        definition = self.model_dump(mode="json", exclude={"name"})
        text = json.dumps({"code": FEATURE_CODE_VERSION, **definition}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @functools.cached_property
    def feature_names(self) -> list[str]:
        """The names of the computed features, in the order of :meth:`FeatureState.features`' columns."""
        suffixes = ["last", *(f"ewm{h:g}" for h in self.half_lives), "trend"]
        return [f"{s.key}:{suffix}" for s in self.signals for suffix in suffixes]

    def columns_informing(self, component: str) -> list[int]:
        """The indices in :attr:`feature_names` of the features whose signal informs ``component``."""
        return self._columns(component, range(len(self.half_lives) + 2), counters=True)

    def behaviour_columns(self, component: str) -> list[int]:
        """The features an anomaly detector of ``component`` reads: the moving averages of the
        non-cumulative signals informing it, without the longest one when there are several (a baseline
        that long follows the part's age more than its behaviour), nor the latest window or the trend
        (noisier views of the same averages)."""
        return self._columns(component, range(1, 1 + max(1, len(self.half_lives) - 1)), counters=False)

    def _columns(self, component: str, offsets: range, *, counters: bool) -> list[int]:
        """Of each signal informing ``component`` (cumulative ones only with ``counters``), the features at
        ``offsets`` among its own (``last``, the averages, ``trend``)."""
        per_signal = len(self.half_lives) + 2
        return [
            k * per_signal + offset
            for k, signal in enumerate(self.signals)
            if (counters or not signal.cumulative) and (not signal.informs or component in signal.informs)
            for offset in offsets
        ]

    @property
    def statistics_needed(self) -> dict[str, set[str]]:
        """Which statistics of which signal the windows must carry."""
        needed: dict[str, set[str]] = {}
        for s in self.signals:
            needed.setdefault(s.signal, set()).add(s.statistic)
        return needed


class FeatureState:
    """The moving averages of ``units`` units, folded one window at a time.

    Windows must arrive in time order per unit. A skipped or missing window leaves a unit's averages as
    they were; the next window is weighed by the time since the last one it took, so a robot that was
    offline for an hour has its averages pulled further towards what it reports after.
    """

    def __init__(self, feature_set: FeatureSet, units: int) -> None:
        self.feature_set = feature_set
        signals = feature_set.signals
        self._active_above = np.array([np.nan if s.active_above is None else s.active_above for s in signals])
        self._missing = np.array([np.nan if s.missing is None else s.missing for s in signals])
        self._half_lives = np.asarray(feature_set.half_lives)
        shape = (units, len(signals))
        self.last = np.full(shape, np.nan)
        self.seen_at = np.full(shape, np.nan)
        self.averages = np.full((*shape, len(self._half_lives)), np.nan)

    def grow(self, units: int) -> None:
        """Make room for ``units`` units in all (new units start with nothing seen)."""
        extra = units - len(self.last)
        if extra > 0:
            self.last = np.vstack([self.last, np.full((extra, self.last.shape[1]), np.nan)])
            self.seen_at = np.vstack([self.seen_at, np.full((extra, self.seen_at.shape[1]), np.nan)])
            pad = np.full((extra, *self.averages.shape[1:]), np.nan)
            self.averages = np.concatenate([self.averages, pad])

    def fold(self, units: np.ndarray, t: float | np.ndarray, statistics: np.ndarray) -> None:
        """Fold one window per listed unit: ``statistics`` is (len(units), signals), NaN where absent.

        ``t`` is the window's time (one for all, or one per unit) in the half-lives' unit.
        """
        values = np.where(np.isnan(statistics), self._missing, statistics)
        taken = np.isfinite(values) & ~(values <= self._active_above)
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), (len(units),))[:, None]
        seen = self.seen_at[units]
        elapsed = np.where(np.isnan(seen), np.inf, np.maximum(t - seen, 0.0))
        keep = 0.5 ** (elapsed[..., None] / self._half_lives)  # inf elapsed: the first window is the average
        old = self.averages[units]
        blended = np.where(np.isnan(old), values[..., None], keep * old + (1 - keep) * values[..., None])
        self.averages[units] = np.where(taken[..., None], blended, old)
        self.last[units] = np.where(taken, values, self.last[units])
        self.seen_at[units] = np.where(taken, t, seen)

    def features(self, units: np.ndarray | None = None) -> np.ndarray:
        """The features of ``units`` (all by default), one row each, columns as ``feature_names``."""
        rows = slice(None) if units is None else units
        last, averages = self.last[rows], self.averages[rows]
        trend = averages[..., 0] - averages[..., -1]
        stacked = np.concatenate([last[..., None], averages, trend[..., None]], axis=-1)
        return stacked.reshape(len(last), -1)


def component_columns(feature_set: FeatureSet, width: int, component: str) -> np.ndarray:
    """The columns a model of ``component`` reads from rows of ``width`` columns: the features of the
    signals informing it, then every column past the feature set's (the encoded conditions)."""
    conditions = range(len(feature_set.feature_names), width)
    return np.array([*feature_set.columns_informing(component), *conditions], dtype=np.intp)


def fold_history(
    feature_set: FeatureSet, unit_index: np.ndarray, t: np.ndarray, statistics: np.ndarray, units: int
) -> np.ndarray:
    """Every window's features after folding it, for a whole history of many units.

    ``unit_index``, ``t`` and ``statistics`` (windows, signals) describe one window per row, in any
    order; the answer has one feature row per input row, in the input's order.
    """
    out = np.empty((len(t), len(feature_set.feature_names)))
    if not len(t):
        return out
    order = np.lexsort((unit_index, t))
    state = FeatureState(feature_set, units)
    sorted_t = t[order]
    starts = np.flatnonzero(np.r_[True, sorted_t[1:] != sorted_t[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = order[first:last]
        members = unit_index[rows]
        state.fold(members, sorted_t[first], statistics[rows])
        out[rows] = state.features(members)
    return out
