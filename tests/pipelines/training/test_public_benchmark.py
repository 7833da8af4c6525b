"""A public run-to-failure set (NASA C-MAPSS FD001, one sensor) trains through its column spec, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetray.learning import TrainingTable, load_spec, load_training_table, split_units
from fleetray.learning.splits import UnitSplit
from pipelines.training import xgb

FOLDER = Path(__file__).resolve().parents[2] / "data" / "cmapss"
SPEC = FOLDER / "fd001_s11.yaml"
TRAINING, HELD_OUT = "train_FD001_disc_20_mod.csv", "test_FD001_disc_20_mod.csv"


@pytest.fixture(scope="module")
def training() -> TrainingTable:
    return load_training_table(SPEC)


@pytest.fixture(scope="module")
def held_out() -> TrainingTable:
    return load_training_table(load_spec(SPEC, source=HELD_OUT))


def _published_rul(file: str) -> dict[tuple[str, float], float]:
    frame = pd.read_csv(FOLDER / file, sep=";")
    moments = zip(frame.unit_nr.astype(str), frame.time_cycles.astype(float), strict=True)
    return dict(zip(moments, frame.RUL, strict=True))


@pytest.mark.parametrize(("file", "engines", "cycles"), [(TRAINING, 80, 16_584), (HELD_OUT, 20, 4_047)])
def test_the_labels_are_the_published_ones(file: str, engines: int, cycles: int) -> None:
    table = load_training_table(load_spec(SPEC, source=file))
    assert (len(np.unique(table.units)), len(table)) == (engines, cycles)
    published = _published_rul(file)
    expected = np.array([published[(u, t)] for u, t in zip(table.units, table.times, strict=True)])
    np.testing.assert_array_equal(table.rul[:, 0], np.minimum(expected, 125))
    np.testing.assert_array_equal(table.failure_within[:, 0], (expected <= 30).astype(float))


def test_xgboost_learns_remaining_life_of_engines_it_never_saw(
    training: TrainingTable, held_out: TrainingTable
) -> None:
    split = split_units(training.units, seed=0)
    result = xgb.train_xgboost(training, split, task="rul", rounds=150, fit_rows=split.train | split.validation)
    bundle = xgb.bundle_of(training, result, task="rul", params={})
    metrics = xgb.test_metrics(held_out, UnitSplit.held_out(len(held_out)), bundle)
    baseline = float(np.sqrt(np.mean((held_out.rul[:, 0] - np.mean(training.rul[:, 0])) ** 2)))
    assert metrics["rmse"] < 0.5 * baseline
