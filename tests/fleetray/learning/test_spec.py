"""Any run-to-failure file trains through a column spec; bad input is refused by name, nothing half-built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetray.errors import DataSpecError, TrainingDataError
from fleetray.learning import load_spec, load_training_table
from fleetray.learning.spec import parse_spec


def write_run_to_failure(folder: Path, *, units: int = 12, seed: int = 0) -> Path:
    """Engines that degrade until they fail at their last cycle (the shape of NASA's C-MAPSS), no header."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(1, units + 1):
        life = int(rng.integers(60, 140))
        for cycle in range(1, life + 1):
            wear = (cycle / life) ** 2
            rows.append(
                [
                    unit,
                    cycle,
                    rng.choice([0.0, 1.0]),
                    100.0,
                    500 + 30 * wear + rng.normal(0, 1),
                    2.0 - wear + rng.normal(0, 0.05),
                ]
            )
    path = folder / "train.txt"
    pd.DataFrame(rows).to_csv(path, sep=" ", header=False, index=False)
    return path


SPEC = """
source: train.txt
columns: [unit, cycle, setting, constant, temperature, flow]
separator: ' '
unit: unit
time: cycle
time_unit: cycle
sensors: [temperature, flow]
conditions: [setting]
labels: {end_of_life: true, component: engine}
horizon: 20
rul_cap: 60
half_lives: [3, 12]
"""


def test_a_spec_file_is_all_it_takes(tmp_path: Path) -> None:
    write_run_to_failure(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC)
    table = load_training_table(tmp_path / "spec.yaml")
    assert table.components == ["engine"]
    assert table.feature_names[-1] == "setting"
    last_cycles = table.times == pd.Series(table.times).groupby(table.units).transform("max").to_numpy()
    assert (table.rul[last_cycles, 0] == 0).all() and (table.failure_within[last_cycles, 0] == 1).all()
    assert table.rul.max() == 60
    assert table.describe()["units"] == 12


def test_windows_are_summarised_with_the_shared_window_code(tmp_path: Path) -> None:
    write_run_to_failure(tmp_path)
    spec = load_spec(_spec_file(tmp_path, SPEC + "window: 10\nstatistic: max\n"))
    table = load_training_table(spec)
    assert set(np.unique(table.times % 10)) == {0.0}
    assert table.feature_set.signals[0].statistic == "max"


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ("sensors: [temperature, pressure]", DataSpecError, "sensor column 'pressure' not in"),
        ("sensors: [temperature, constant]", TrainingDataError, "sensor 'constant' is constant"),
        ("unit: engine_id", DataSpecError, "unit/time column 'engine_id' not in"),
        ("statistic: median", DataSpecError, "statistic 'median' is not one of"),
        ("horizon: -1", DataSpecError, "horizon: Input should be greater than 0"),
        ("labels: {failure_column: setting, end_of_life: true}", DataSpecError, "exactly one of"),
    ],
)
def test_bad_specs_name_the_problem(tmp_path: Path, change: str, error: type, message: str) -> None:
    write_run_to_failure(tmp_path)
    key = change.split(":", maxsplit=1)[0]
    text = "\n".join(line for line in SPEC.splitlines() if not line.startswith(f"{key}:")) + f"\n{change}\n"
    with pytest.raises(error, match=message):
        load_training_table(_spec_file(tmp_path, text))


def test_constant_sensors_may_be_dropped_on_request(tmp_path: Path) -> None:
    write_run_to_failure(tmp_path)
    text = SPEC.replace("sensors: [temperature, flow]", "sensors: [temperature, flow, constant]")
    table = load_training_table(_spec_file(tmp_path, text + "drop_constant: true\n"))
    assert not any(name.startswith("constant") for name in table.feature_names)


def test_a_table_without_failures_and_an_empty_sensor_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "unit": [1, 1, 2, 2],
            "t": [1, 2, 1, 2],
            "x": [1.0, 2.0, 3.0, 4.0],
            "failed": [None] * 4,
            "empty": [np.nan] * 4,
        }
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    base = {"source": str(tmp_path / "data.csv"), "unit": "unit", "time": "t", "horizon": 1, "rul_cap": 5}
    with pytest.raises(TrainingDataError, match="failure column 'failed' names no failure"):
        load_training_table(parse_spec({**base, "sensors": ["x"], "labels": {"failure_column": "failed"}}))
    with pytest.raises(TrainingDataError, match="sensor 'empty' has no values"):
        load_training_table(parse_spec({**base, "sensors": ["x", "empty"], "labels": {"end_of_life": True}}))


def test_failures_from_a_file_of_their_own(tmp_path: Path) -> None:
    frame = pd.DataFrame({"unit": ["a"] * 5 + ["b"] * 5, "t": list(range(5)) * 2, "x": np.arange(10.0)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    pd.DataFrame({"robot": ["a", "b"], "part": ["brush", "brush"], "at": [3, 10]}).to_csv(
        tmp_path / "f.csv", index=False
    )
    spec = parse_spec(
        {
            "source": str(tmp_path / "data.csv"),
            "unit": "unit",
            "time": "t",
            "sensors": ["x"],
            "horizon": 2,
            "rul_cap": 4,
            "labels": {
                "failures": {"source": str(tmp_path / "f.csv"), "unit": "robot", "time": "at", "component": "part"}
            },
        }
    )
    table = load_training_table(spec)
    assert table.components == ["brush"]
    a = table.units == "a"
    rul = table.rul[a, 0]
    assert rul[:4].tolist() == [3, 2, 1, 0] and np.isnan(rul[4])  # after the failure, the data ends too soon


def _spec_file(folder: Path, text: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(text)
    return path
