"""Windowed statistics of a time series, and anomaly scores over them.

The bag pipeline computes these per topic and field; they sit in fleetray so the streaming side can
compute the same figures the same way. Anomaly scores come from :class:`fleetray.features.online.EwmaScore`
with the live shards' settings, fed every sample in time order, as a shard would have scored them:
a window's ``anomaly`` is its most unusual sample's score.
"""

from __future__ import annotations

import numpy as np

from fleetray.features.online import EwmaScore

STATISTICS = ("n", "mean", "std", "min", "max", "p05", "p50", "p95", "slope_per_s", "rate_hz", "anomaly")


def window_statistics(t_s: np.ndarray, values: np.ndarray, window_s: float) -> dict[str, np.ndarray]:
    """Per window of ``window_s`` seconds (aligned to multiples of it): count, mean, std, min, max, 5th, 50th
    and 95th percentiles, least-squares slope per second, sample rate, and the highest anomaly score of its
    samples (:func:`sample_scores`). NaN values are left out.

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
        v, t = values[first:last], t_s[first:last]
        out["n"].append(len(v))
        out["mean"].append(float(v.mean()))
        out["std"].append(float(v.std()))
        out["min"].append(float(v.min()))
        out["max"].append(float(v.max()))
        p05, p50, p95 = np.percentile(v, [5, 50, 95])
        out["p05"].append(float(p05))
        out["p50"].append(float(p50))
        out["p95"].append(float(p95))
        spread = t - t.mean()
        denominator = float((spread * spread).sum())
        out["slope_per_s"].append(float((spread * (v - v.mean())).sum() / denominator) if denominator > 0 else 0.0)
        span = float(t[-1] - t[0])
        out["rate_hz"].append((len(v) - 1) / span if span > 0 else 0.0)
        out["anomaly"].append(float(scores[first:last].max()))
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
