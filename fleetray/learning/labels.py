"""Labels at each moment, from what happened after it only: remaining useful life and failure within a horizon.

A moment sees everything up to and including its time, and a failure at that very time is still ahead
of it (a unit observed on its last cycle fails right after). A part's life ends at a failure, or is cut
short (censored) by a preventive renewal or by the end of the data. A label is given only where the
future shows it: a moment whose part was renewed, or whose data ends, before the horizon has passed
without a failure gets no failure label, and no RUL label unless the part is known to last at least the
cap. Moments while a failed part awaits its repair get no label either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ComponentLabels:
    """One component's labels, one entry per moment (NaN where the future does not tell)."""

    rul: np.ndarray
    failure_within: np.ndarray


def component_labels(
    t: np.ndarray,
    failures: np.ndarray,
    renewals: np.ndarray,
    end: float,
    *,
    horizon: float,
    rul_cap: float,
    repairs_recorded: bool = True,
) -> ComponentLabels:
    """Labels of one unit's component at the moments ``t``.

    Args:
        t: the moments (sorted or not).
        failures: when the component failed.
        renewals: when it was renewed without having failed (preventive replacement; cleaning a filter).
        end: the last moment the unit was observed.
        horizon: a failure in (t, t + horizon] labels the moment 1.
        rul_cap: RUL above this is given as the cap (the usual piecewise-linear target).
        repairs_recorded: whether a failed part's repair shows among ``renewals`` (the platform's
            maintenance records); without them a failure renews the part at once (run-to-failure data).
    """
    t = np.asarray(t, dtype=np.float64)
    failures = np.sort(np.asarray(failures, dtype=np.float64))
    renewals = np.sort(np.asarray(renewals, dtype=np.float64))
    next_failure = _next_from(failures, t)
    next_renewal = _next_from(renewals, t)
    # A failed part is renewed when it is repaired: the first renewal after the failure, if recorded.
    previous_failure = _last_before(failures, t)
    previous_renewal = _last_before(renewals, t)
    awaiting_repair = np.isfinite(previous_failure) & (
        ~np.isfinite(previous_renewal) | (previous_renewal < previous_failure)
    )
    if not repairs_recorded:
        awaiting_repair[:] = False
    fails_first = np.isfinite(next_failure) & (next_failure <= next_renewal)
    observed_until = np.minimum(next_renewal, end)

    within = np.full(len(t), np.nan)
    within[fails_first & (next_failure <= t + horizon)] = 1.0
    survives = ~(fails_first & (next_failure <= t + horizon)) & (observed_until >= t + horizon)
    within[survives] = 0.0

    rul = np.full(len(t), np.nan)
    rul[fails_first] = np.minimum(next_failure[fails_first] - t[fails_first], rul_cap)
    lasts_past_cap = ~fails_first & (observed_until - t >= rul_cap)
    rul[lasts_past_cap] = rul_cap

    within[awaiting_repair] = np.nan
    rul[awaiting_repair] = np.nan
    return ComponentLabels(rul=rul, failure_within=within)


def _next_from(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The first of ``times`` at or after each moment; inf where none."""
    index = np.searchsorted(times, t, side="left")
    padded = np.r_[times, np.inf]
    return padded[index]


def _last_before(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The last of ``times`` strictly before each moment; -inf where none."""
    index = np.searchsorted(times, t, side="left") - 1
    padded = np.r_[-np.inf, times]
    return padded[index + 1]
