"""Failure-prediction figures agree with scikit-learn's; a decision threshold may weigh precision above recall."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, fbeta_score

from fleetray.learning.metrics import (
    average_precision,
    best_threshold,
    brier_score,
    calibration_error,
    classification_report,
    unit_intervals,
    warning_leads,
    warning_report,
)


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    actual = rng.random(2_000) < 0.2
    probability = np.round(np.clip(0.35 * actual + rng.normal(0.3, 0.2, actual.size), 0, 1), 2)  # ties too
    return probability, actual


def test_average_precision_is_scikit_learns(scored: tuple[np.ndarray, np.ndarray]) -> None:
    probability, actual = scored
    assert average_precision(probability, actual) == pytest.approx(average_precision_score(actual, probability))


@pytest.mark.parametrize("beta", [1.0, 0.8, 0.5])
def test_the_threshold_maximises_f_beta(scored: tuple[np.ndarray, np.ndarray], beta: float) -> None:
    probability, actual = scored
    chosen = best_threshold(probability, actual, beta=beta)
    best = max(fbeta_score(actual, probability >= t, beta=beta) for t in np.unique(probability))
    assert fbeta_score(actual, probability >= chosen, beta=beta) == pytest.approx(best)


def test_weighing_precision_raises_the_threshold(scored: tuple[np.ndarray, np.ndarray]) -> None:
    probability, actual = scored
    at_f1, at_f05 = (
        classification_report(probability, actual, best_threshold(probability, actual, beta=b)) for b in (1, 0.5)
    )
    assert at_f05["threshold"] > at_f1["threshold"]
    assert at_f05["precision"] > at_f1["precision"] and at_f05["recall"] < at_f1["recall"]


def test_failures_count_once_each_with_the_lead_of_their_first_alarm() -> None:
    # Two units sampled every 10 minutes: "a" fails at 100 and again at 300, "b" at 200; horizon 30.
    units = np.array(["a"] * 4 + ["a"] * 4 + ["b"] * 4)
    times = np.array([60, 70, 80, 90, 260, 270, 280, 290, 160, 170, 180, 190], dtype=np.float64)
    failed_at = np.array([100] * 4 + [300] * 4 + [200] * 4, dtype=np.float64)
    rul = failed_at - times
    actual = rul <= 30
    alarmed = np.array([False, False, True, True] + [False] * 4 + [True, True, False, True])
    rul[9] = np.nan  # an unknown rul is left out: "b"'s first alarm within the horizon is then the one at 190

    failures, leads = warning_leads(alarmed, actual, units, times, rul)

    assert failures == 3
    assert sorted(leads) == [10.0, 20.0]  # "a" at 100 warned 20 ahead, "b" 10 ahead; "a" at 300 missed
    assert warning_report(leads, failures) == {"failures": 3, "failures_warned": 2, "median_lead": 15.0}
    assert warning_report([], 1)["median_lead"] is None


def test_calibration_error_weighs_each_bins_gap_by_its_rows(scored: tuple[np.ndarray, np.ndarray]) -> None:
    probability, actual = scored
    bins = np.clip((probability * 10).astype(int), 0, 9)
    expected = sum(
        (bins == b).mean() * abs(probability[bins == b].mean() - actual[bins == b].mean())
        for b in range(10)
        if (bins == b).any()
    )
    assert calibration_error(probability, actual) == pytest.approx(expected)
    assert calibration_error(actual.astype(float), actual) == 0.0
    assert brier_score(probability, actual) == pytest.approx(np.mean((probability - actual) ** 2))


def _fleet(units: int, failing: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ten rows a unit; the failing units' last four are positive. Alarms: the last three rows of every
    failing unit, and of every fifth unit that does not fail."""
    unit = np.repeat(np.arange(units), 10)
    row = np.tile(np.arange(10), units)
    actual = (unit < failing) & (row >= 6)
    alarmed = ((unit < failing) | (unit % 5 == 4)) & (row >= 7)
    return alarmed, actual, unit.astype(str)


def test_intervals_resample_whole_units_and_narrow_with_more_of_them() -> None:
    few = unit_intervals(*_fleet(units=10, failing=3))
    many = unit_intervals(*_fleet(units=200, failing=60))
    for intervals, (alarmed, actual, _) in ((few, _fleet(10, 3)), (many, _fleet(200, 60))):
        report = classification_report(alarmed.astype(float), actual, 0.5)
        for name in ("precision", "recall"):
            low, high = intervals[name]
            assert low <= report[name] <= high
    # Recall is 3 of 4 rows on every failing unit, whichever units are drawn: no spread at all.
    assert few["recall"] == pytest.approx([0.75, 0.75])
    # Precision depends on how many false-alarm units a draw holds: three failing units of ten leave it wide.
    assert few["precision"][1] - few["precision"][0] > 2 * (many["precision"][1] - many["precision"][0])
    assert unit_intervals(*_fleet(units=10, failing=3)) == few  # seeded


def test_intervals_without_alarms_or_failures_have_no_bounds() -> None:
    alarmed, actual, units = _fleet(units=10, failing=0)
    assert unit_intervals(np.zeros_like(alarmed), actual, units) == {"precision": [None, None], "recall": [None, None]}
