"""A run-to-failure table shared by the training tests (small: trees and a tiny LSTM fit it in seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetray.learning import TrainingTable, load_training_table, split_units
from fleetray.learning.splits import UnitSplit
from tests.fleetray.learning.test_spec import SPEC, write_run_to_failure


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> TrainingTable:
    folder = tmp_path_factory.mktemp("engines")
    write_run_to_failure(folder, units=30, seed=4)
    (folder / "spec.yaml").write_text(SPEC)
    return load_training_table(Path(folder) / "spec.yaml")


@pytest.fixture(scope="session")
def engine_split(engines: TrainingTable) -> UnitSplit:
    return split_units(engines.units, seed=0)
