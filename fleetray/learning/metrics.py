"""How good a model is: RUL errors and failure-prediction rates, on held-back units."""

from __future__ import annotations

import numpy as np


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def rul_score(predicted: np.ndarray, actual: np.ndarray, *, early: float = 13.0, late: float = 10.0) -> float:
    """The asymmetric RUL score of the PHM08 challenge (lower is better; late predictions cost more).

    ``sum(exp(-d / early) - 1)`` over early predictions and ``sum(exp(d / late) - 1)`` over late ones,
    with ``d = predicted - actual`` in the data's time unit (cycles in C-MAPSS).
    """
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.expm1(-d / early), np.expm1(d / late))))


def classification_report(probability: np.ndarray, actual: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, F1, false-positive rate at ``threshold``, PR-AUC (average precision) and counts."""
    actual = np.asarray(actual).astype(bool)
    predicted = np.asarray(probability) >= threshold
    tp = int((predicted & actual).sum())
    fp = int((predicted & ~actual).sum())
    fn = int((~predicted & actual).sum())
    tn = int((~predicted & ~actual).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
        "pr_auc": average_precision(probability, actual),
        "positives": tp + fn,
        "negatives": fp + tn,
        "threshold": float(threshold),
    }


def brier_score(probability: np.ndarray, actual: np.ndarray) -> float:
    """The mean squared difference between the probabilities and what happened (0 or 1); lower is better."""
    return float(np.mean((np.asarray(probability, dtype=np.float64) - np.asarray(actual, dtype=np.float64)) ** 2))


def calibration_error(probability: np.ndarray, actual: np.ndarray, *, bins: int = 10) -> float:
    """Expected calibration error: over ``bins`` equal-width bins of probability, how far each bin's mean
    probability lies from its share of rows that failed, weighed by the bin's share of rows (0: the
    probabilities say exactly how often failures follow)."""
    probability = np.asarray(probability, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if not len(probability):
        return 0.0
    bin_of = np.clip((probability * bins).astype(int), 0, bins - 1)
    gap = np.bincount(bin_of, weights=probability - actual, minlength=bins)
    return float(np.abs(gap).sum() / len(probability))


def failed_units(actual: np.ndarray, units: np.ndarray) -> int:
    """How many units have a positive row: the failures a figure or a fit on these rows rests on."""
    return len(np.unique(np.asarray(units)[np.asarray(actual) > 0]))


def unit_intervals(
    alarmed: np.ndarray,
    actual: np.ndarray,
    units: np.ndarray,
    *,
    level: float = 0.9,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, list[float | None]]:
    """How far precision and recall could move on other units like these: ``level`` intervals (5th to 95th
    percentile at 0.9) over ``resamples`` draws of the units with replacement, each unit with all its rows.

    A part that failed on three test units has its precision and recall from those three: the rows of one unit
    come and go together, so they are resampled as one. ``precision`` and ``recall`` are ``[low, high]``; a bound
    is None where no draw had an alarm (precision) or a failure (recall).
    """
    alarmed, actual = np.asarray(alarmed).astype(bool), np.asarray(actual).astype(bool)
    _, unit = np.unique(units, return_inverse=True)
    count = unit.max() + 1 if len(unit) else 0
    hits = np.bincount(unit, weights=alarmed & actual, minlength=count)
    alarms = np.bincount(unit, weights=alarmed, minlength=count)
    failures = np.bincount(unit, weights=actual, minlength=count)
    draws = np.random.default_rng(seed).integers(0, max(count, 1), (resamples, count))
    tail = 100 * (1 - level) / 2
    out: dict[str, list[float | None]] = {}
    for name, denominator in (("precision", alarms), ("recall", failures)):
        totals = denominator[draws].sum(axis=1)
        shares = hits[draws].sum(axis=1)[totals > 0] / totals[totals > 0]
        out[name] = [float(np.percentile(shares, q)) for q in (tail, 100 - tail)] if len(shares) else [None, None]
    return out


def warning_leads(
    alarmed: np.ndarray, actual: np.ndarray, units: np.ndarray, times: np.ndarray, rul: np.ndarray
) -> tuple[int, list[float]]:
    """The failures within the horizon as events, and how early an alarm came before each one that had one.

    Rows are counted one by one in precision and recall, so a failure warned of 12 hours ahead counts half its
    rows as missed. Here a failure is one event: the positive rows of a unit that end at the same moment
    (``times + rul``). Returns the number of failures and, for each warned one, the ``rul`` of its first
    alarmed row (how long before the failure the first alarm came, in the table's time unit). Rows whose
    ``rul`` is unknown are left out.
    """
    positive = np.asarray(actual).astype(bool) & np.isfinite(rul)
    lead = rul[positive]
    events = list(zip(units[positive].tolist(), np.round(times[positive] + lead, 6).tolist(), strict=True))
    first_alarm: dict[tuple, float] = {}
    for event, before, hit in zip(events, lead.tolist(), np.asarray(alarmed)[positive].tolist(), strict=True):
        if hit:
            first_alarm[event] = max(first_alarm.get(event, 0.0), before)
    return len(set(events)), list(first_alarm.values())


def warning_report(leads: list[float], failures: int) -> dict[str, float | int | None]:
    """``failures``, ``failures_warned`` and ``median_lead`` (None when none was warned) of :func:`warning_leads`."""
    return {
        "failures": failures,
        "failures_warned": len(leads),
        "median_lead": float(np.median(leads)) if leads else None,
    }


def average_precision(probability: np.ndarray, actual: np.ndarray) -> float:
    """The area under the precision-recall curve, as average precision (scikit-learn's definition)."""
    actual = np.asarray(actual).astype(bool)
    if not actual.any():
        return 0.0
    _, hits, last_of_score = _ranked(probability, actual)
    tp = np.cumsum(hits)[last_of_score]
    seen = (np.flatnonzero(last_of_score) + 1).astype(np.float64)
    precision, recall = tp / seen, tp / actual.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_threshold(probability: np.ndarray, actual: np.ndarray, *, beta: float = 1.0) -> float:
    """The threshold with the highest F-beta on these rows (ties: the higher threshold, fewer false alarms).

    ``beta`` below 1 weighs precision more than recall (F1 at 1).
    """
    actual = np.asarray(actual).astype(bool)
    if not actual.any():
        return 0.5
    scores, hits, last_of_score = _ranked(probability, actual)
    weight = beta * beta
    f_beta = (1 + weight) * np.cumsum(hits) / (np.arange(1, len(scores) + 1) + weight * actual.sum())
    f_beta = np.where(last_of_score, f_beta, -1.0)
    return float(scores[int(np.argmax(f_beta))])


def _ranked(probability: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores highest first, their labels, and where each run of equal scores ends (a threshold point)."""
    order = np.argsort(-np.asarray(probability), kind="stable")
    scores = np.asarray(probability)[order]
    return scores, actual[order], np.r_[scores[1:] != scores[:-1], True]
