"""Windowed statistics of time series: one implementation for the live shards and the bag pipeline.

:func:`window_summary` is the definition: the statistics of one window's samples, per signal. A shard
calls it when a robot's minute closes (``MinuteAggregator``); the bag pipeline calls it for every window
of every decoded topic (:func:`window_statistics`). Anomaly scores come from
:class:`fleetray.features.anomaly.EwmaScore` with the shards' settings, fed every sample in time order:
a window's ``anomaly`` is its most unusual sample's score.
"""

from __future__ import annotations

import warnings

import numpy as np

from fleetray.features.anomaly import EwmaScore

STATISTICS = ("n", "mean", "std", "min", "max", "p05", "p50", "p95", "slope_per_s", "rate_hz", "last", "anomaly")
PERCENTILES = (5, 50, 95)


def window_summary(t_s: np.ndarray, values: np.ndarray, scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The statistics of one window, one entry per signal (column of ``values``).

    ``values`` is (samples, signals), NaN where a sample lacks a signal; ``t_s`` the samples' times in
    seconds, in any order (or, with the shape of ``values``, each value's own time: windows of several
    series side by side); ``scores`` (optional, same shape) their anomaly scores, NaN where unscored.
    Per signal: count, mean, population std, min, max, 5th/50th/95th percentiles (linear interpolation),
    least-squares slope per second, sample rate ((n - 1) / time spanned), the value at the latest time,
    and the highest score. Statistics of a signal without samples are NaN (n is 0).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    signals = values.shape[1]
    if not len(values):
        return {name: np.full(signals, 0 if name == "n" else np.nan) for name in STATISTICS}
    valid = np.isfinite(values)
    n = valid.sum(axis=0)
    count = np.maximum(n, 1)
    mean = np.where(valid, values, 0.0).sum(axis=0) / count
    centred = np.where(valid, values - mean, 0.0)
    t_s = np.asarray(t_s, dtype=np.float64)
    times = t_s if t_s.ndim == 2 else np.broadcast_to(t_s[:, None], values.shape)
    t_centred = np.where(valid, times - np.where(valid, times, 0.0).sum(axis=0) / count, 0.0)
    spread = (t_centred * t_centred).sum(axis=0)
    span = np.where(valid, times, -np.inf).max(axis=0) - np.where(valid, times, np.inf).min(axis=0)
    latest = np.where(valid, times, -np.inf).argmax(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # signals without samples come out NaN, as documented
        percentiles = _percentiles(values, valid, n)
        anomaly = np.nanmax(scores, axis=0) if scores is not None else np.full(signals, np.nan)
        slope = np.where(spread > 0, (t_centred * centred).sum(axis=0) / spread, 0.0)
        rate = np.where(span > 0, (n - 1) / span, 0.0)
    empty = n == 0

    def unless_empty(statistic: np.ndarray) -> np.ndarray:
        return np.where(empty, np.nan, statistic)

    return {
        "n": n,
        "mean": unless_empty(mean),
        "std": unless_empty(np.sqrt((centred * centred).sum(axis=0) / count)),
        "min": unless_empty(np.where(valid, values, np.inf).min(axis=0)),
        "max": unless_empty(np.where(valid, values, -np.inf).max(axis=0)),
        "p05": percentiles[0],
        "p50": percentiles[1],
        "p95": percentiles[2],
        "slope_per_s": unless_empty(slope),
        "rate_hz": unless_empty(rate),
        "last": unless_empty(values[latest, np.arange(signals)]),
        "anomaly": anomaly,
    }


def _percentiles(values: np.ndarray, valid: np.ndarray, n: np.ndarray) -> np.ndarray:
    """:data:`PERCENTILES` of each column's valid values, by linear interpolation (numpy's default), NaN for a
    column without any.

    ``np.nanpercentile`` computes the same but loops over the columns in Python when any value is missing,
    which is every closing minute of a shard: this sorts once, with missing values last.
    """
    ordered = np.sort(np.where(valid, values, np.inf), axis=0)
    last = np.maximum(n - 1, 0)
    position = last * (np.asarray(PERCENTILES, dtype=np.float64)[:, None] / 100.0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, last)
    columns = np.arange(values.shape[1])
    below, above = ordered[low, columns], ordered[high, columns]
    with np.errstate(invalid="ignore"):  # inf - inf in empty columns, replaced by NaN
        return np.where(n == 0, np.nan, below + (above - below) * (position - low))


def window_statistics(t_s: np.ndarray, values: np.ndarray, window_s: float) -> dict[str, np.ndarray]:
    """:func:`window_summary` of one signal per window of ``window_s`` seconds (aligned to multiples of it),
    with every sample scored by :func:`sample_scores`. NaN values are left out.

    ``t_s`` must be sorted. Returns ``{"window_start_s": …, statistic: …}``, one entry per non-empty window.
    """
    keep = np.isfinite(values)
    t_s, values = t_s[keep], values[keep].astype(np.float64)
    if not len(t_s):
        return {"window_start_s": np.array([]), **{name: np.array([]) for name in STATISTICS}}
    scores = sample_scores(values)
    window = np.floor(t_s / window_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, window[1:] != window[:-1]])
    ends = np.r_[starts[1:], len(window)]
    out: dict[str, list[float]] = {name: [] for name in STATISTICS}
    for first, last in zip(starts, ends, strict=True):
        summary = window_summary(t_s[first:last], values[first:last], scores[first:last, None])
        for name in STATISTICS:
            out[name].append(summary[name][0].item())
    return {"window_start_s": window[starts] * window_s, **{k: np.asarray(v) for k, v in out.items()}}


def sample_scores(values: np.ndarray) -> np.ndarray:
    """Each sample's |z| against the samples before it, scored as a live shard scores a signal."""
    scorer = EwmaScore()
    return np.fromiter((scorer.score(value) for value in values.tolist()), dtype=np.float64, count=len(values))


def summary_statistics(values: np.ndarray) -> dict[str, float]:
    """Count, mean, std, min and max of a whole series (NaNs left out)."""
    values = values[np.isfinite(values)].astype(np.float64)
    if not len(values):
        return {"n": 0}
    return {
        "n": len(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }
