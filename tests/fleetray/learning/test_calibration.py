"""Platt scaling recovers how overconfident scores are, keeps their order, and refuses what it cannot fit."""

from __future__ import annotations

import numpy as np
import pytest

from fleetray.learning.calibration import PlattScaling, calibrations
from fleetray.learning.metrics import brier_score, calibration_error


def overconfident(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose log-odds are 2.5 times the truth's, plus 0.5, and what happened."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.01, 0.99, rows)
    actual = rng.random(rows) < truth
    log_odds = np.log(truth / (1 - truth))
    return 1 / (1 + np.exp(-(2.5 * log_odds + 0.5))), actual


def test_the_fit_undoes_the_distortion_and_calibrates() -> None:
    scores, actual = overconfident(40_000)
    scaling = PlattScaling.fit(scores, actual)
    assert scaling is not None
    assert scaling.slope == pytest.approx(0.4, abs=0.03) and scaling.intercept == pytest.approx(-0.2, abs=0.05)
    fresh, happened = overconfident(40_000, seed=1)
    calibrated = scaling(fresh)
    assert calibration_error(calibrated, happened) < calibration_error(fresh, happened) / 3
    assert brier_score(calibrated, happened) < brier_score(fresh, happened)


def test_the_map_keeps_every_scores_order_up_to_the_edges() -> None:
    scaling = PlattScaling(0.4, -0.2)
    below_one = np.nextafter(np.float32(1), np.float32(0))  # the highest float32 score short of certainty
    scores = np.r_[0.0, 1e-7, np.linspace(0, 1, 1001)[1:-1], below_one, 1.0].astype(np.float32)
    mapped = scaling(scores)
    assert np.all(np.diff(mapped) > 0)
    assert np.all((mapped > 0) & (mapped < 1))
    threshold = np.float32(0.37)
    np.testing.assert_array_equal(mapped >= scaling(threshold), scores >= threshold)


def test_nothing_is_fitted_without_both_outcomes_or_with_scores_that_rank_backwards() -> None:
    scores, actual = overconfident(2_000)
    assert PlattScaling.fit(scores, np.zeros_like(actual)) is None
    assert PlattScaling.fit(scores, np.ones_like(actual)) is None
    assert PlattScaling.fit(1 - scores, actual) is None


def test_a_scaling_survives_json() -> None:
    scaling = PlattScaling(0.43, -0.12)
    assert PlattScaling.from_dict(scaling.to_dict()) == scaling


def test_parts_that_failed_on_too_few_units_keep_their_scores() -> None:
    scores, actual = overconfident(6_000)
    many = np.arange(6_000) % 40  # 40 units, each with failing rows
    few = np.where(actual, np.arange(6_000) % 3, 100 + np.arange(6_000) % 40)  # failures on 3 units only
    fitted = calibrations({"brush": (scores, actual, many), "pump": (scores, actual, few)}, min_units=10)
    assert set(fitted) == {"brush"}
