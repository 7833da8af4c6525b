"""A feature set's version names its definition; folding one window at a time equals folding a history."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from fleetray.features.featureset import FeatureSet, FeatureState, SignalFeature, fold_history


def _features(**changes: object) -> FeatureSet:
    base = {
        "signals": (
            SignalFeature(signal="current", statistic="max", active_above=0.0),
            SignalFeature(signal="warnings", statistic="n", missing=0.0),
        ),
        "half_lives": (4.0, 16.0),
    }
    return FeatureSet(**{**base, **changes})


def test_the_version_changes_with_the_definition_not_the_label() -> None:
    assert _features().version == _features(name="renamed").version
    assert _features().version != _features(half_lives=(4.0, 32.0)).version
    assert _features().feature_names[:4] == [
        "current:max:last",
        "current:max:ewm4",
        "current:max:ewm16",
        "current:max:trend",
    ]


def test_bad_definitions_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="statistic 'median' is not one of"):
        SignalFeature(signal="x", statistic="median")
    with pytest.raises(ValidationError, match="half_lives must be one or more positive numbers"):
        _features(half_lives=(0.0,))
    with pytest.raises(ValidationError, match="current:max more than once"):
        _features(signals=(SignalFeature(signal="current", statistic="max"),) * 2)


def test_idle_windows_are_skipped_and_missing_counts_are_zero() -> None:
    state = FeatureState(_features(), 1)
    state.fold(np.array([0]), 1.0, np.array([[5.0, np.nan]]))
    state.fold(np.array([0]), 2.0, np.array([[0.0, 2.0]]))  # the motor did not run: its averages hold
    row = state.features()[0]
    assert row[0] == 5.0 and row[1] == 5.0
    warnings_ewm4 = row[5]
    assert 0 < warnings_ewm4 < 2.0


def test_one_window_at_a_time_equals_a_whole_history() -> None:
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(3), 40)
    t = np.tile(np.arange(40.0), 3) + rng.integers(0, 2, 120) * 0.5  # uneven steps
    values = rng.normal(5, 1, (120, 2))
    values[rng.random(120) < 0.2, 0] = 0.0
    values[rng.random(120) < 0.2, 1] = np.nan
    history = fold_history(_features(), units, t, values, 3)
    state = FeatureState(_features(), 3)
    for row in np.lexsort((units, t)):
        state.fold(np.array([units[row]]), t[row], values[row][None, :])
        np.testing.assert_allclose(state.features(np.array([units[row]]))[0], history[row])
