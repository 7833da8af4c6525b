"""Labels come from each moment's future only, and are withheld where the future does not tell."""

from __future__ import annotations

import numpy as np

from fleetray.learning.labels import component_labels


def test_failure_within_the_horizon_and_rul_capped() -> None:
    t = np.arange(0, 100, 10.0)
    labels = component_labels(t, failures=[95.0], renewals=[120.0], end=200, horizon=30, rul_cap=50)
    assert labels.failure_within.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert labels.rul.tolist() == [50, 50, 50, 50, 50, 45, 35, 25, 15, 5]


def test_a_preventive_renewal_censors_what_it_cuts_short() -> None:
    # The part was replaced at 50 without failing: moments within the horizon before it learn nothing.
    t = np.array([0.0, 10, 30, 40, 60])
    labels = component_labels(t, failures=[], renewals=[50.0], end=200, horizon=30, rul_cap=25)
    assert labels.failure_within[:2].tolist() == [0, 0]
    assert np.isnan(labels.failure_within[2:4]).all()
    assert labels.rul[:2].tolist() == [25, 25] and np.isnan(labels.rul[2:4]).all()
    assert labels.failure_within[4] == 0  # the new part, observed long enough


def test_the_end_of_the_data_censors_and_a_failed_part_awaiting_repair_is_unlabelled() -> None:
    t = np.array([0.0, 20, 25, 30, 45, 80])
    labels = component_labels(t, failures=[20.0], renewals=[40.0], end=90, horizon=15, rul_cap=100)
    assert labels.failure_within[0] == 0 and labels.failure_within[1] == 1  # a failure at the moment is ahead
    assert np.isnan(labels.failure_within[2:4]).all()  # failed, waiting for the repair at 40
    assert labels.failure_within[4] == 0  # repaired, and seen for the 15 after
    assert np.isnan(labels.failure_within[5])  # the data ends 10 later: unknown
    assert labels.rul[1] == 0 and np.isnan(labels.rul[5])


def test_failures_without_recorded_repairs_renew_the_part_at_once() -> None:
    t = np.array([10.0, 11, 19])
    labels = component_labels(
        t, failures=[10.0, 20.0], renewals=[], end=30, horizon=5, rul_cap=100, repairs_recorded=False
    )
    assert labels.rul.tolist() == [0, 9, 1]
    assert labels.failure_within.tolist() == [1, 0, 1]
