"""Failure probabilities that mean what they say: Platt scaling of a model's scores, fitted out of fold.

A booster trained on a few dozen failures is overconfident: of the rows it gives 0.9, about seven in ten
fail, not nine (measured on the simulator's fleet: a slope of 0.4-0.7 on the log-odds). Customers read these
numbers as "risk 73 %", and tenants set their ``maintenance_due`` level on them, so a failure model maps its
scores through ``sigmoid(slope * logit(score) + intercept)``, fitted on predictions its training units got
out of fold (a model's scores on its own training rows are no guide).

The map is strictly increasing, so it moves no decision: a threshold mapped the same way flags the same rows,
and rankings (PR-AUC) are unchanged. A part whose out-of-fold predictions rest on fewer than
:data:`MIN_CALIBRATION_UNITS` failing units keeps its booster's own scores: fitted on a rare part's five to seven
failing units, the map made them worse, not better, on the test robots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetray.learning.metrics import failed_units

MIN_CALIBRATION_UNITS = 10
_EDGE = 1e-9  # scores of exactly 0 or 1 have no log-odds; every float32 score in between keeps its own


def _logit(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(scores, dtype=np.float64), _EDGE, 1 - _EDGE)
    return np.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class PlattScaling:
    """``sigmoid(slope * logit(score) + intercept)``, with ``slope`` > 0."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, scores: np.ndarray, actual: np.ndarray) -> PlattScaling | None:
        """The map that makes ``scores`` best predict ``actual`` (0/1) by log-loss; None where it would not
        keep their order (no positive slope: the scores rank these rows no better than chance)."""
        from sklearn.linear_model import LogisticRegression

        actual = np.asarray(actual).astype(bool)
        if actual.all() or not actual.any():
            return None
        # Barely regularised: two parameters on thousands of rows need no shrinking.
        fitted = LogisticRegression(C=1e4).fit(_logit(scores)[:, None], actual)
        slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        return cls(slope, intercept) if slope > 0 else None

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        """The calibrated probabilities of ``scores``."""
        return 1 / (1 + np.exp(-(self.slope * _logit(np.asarray(scores)) + self.intercept)))

    def to_dict(self) -> dict[str, float]:
        """As JSON-able data (a model bundle's ``info``)."""
        return {"slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlattScaling:
        """From :meth:`to_dict`'s data."""
        return cls(float(data["slope"]), float(data["intercept"]))


def calibrations(
    out_of_fold: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *, min_units: int = MIN_CALIBRATION_UNITS
) -> dict[str, PlattScaling]:
    """Per component with out-of-fold ``(scores, labels, units)`` from at least ``min_units`` failing units, its
    calibration (components it cannot be fitted for are left out)."""
    fitted = {}
    for component, (scores, actual, units) in out_of_fold.items():
        if failed_units(actual, units) < min_units:
            continue
        scaling = PlattScaling.fit(scores, actual)
        if scaling is not None:
            fitted[component] = scaling
    return fitted
