"""Training tables of the data files a test writes."""

from __future__ import annotations

from pathlib import Path

from fleetray.learning import TrainingTable, load_training_table


def spec_table(folder: Path, spec: str) -> TrainingTable:
    """The table a data spec (YAML text) gives of the files in ``folder``, as a user would load it."""
    (folder / "spec.yaml").write_text(spec)
    return load_training_table(folder / "spec.yaml")
