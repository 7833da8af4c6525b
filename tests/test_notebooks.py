"""The notebooks in notebooks/: kept without outputs, and each runs top to bottom on small data.

They run as a user runs them (a Jupyter kernel, nbclient driving it), with the test's PostgreSQL schema
and a data dir of their own, joining the session's Ray through RAY_ADDRESS as they would join a cluster.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from fleetray.storage import Database

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_is_a_notebook_for_each_job_and_none_is_stored_with_outputs() -> None:
    names = [path.stem for path in NOTEBOOKS]
    assert names == ["01_fleet_telemetry", "02_bags_and_features", "03_train_and_register", "04_schedule_what_if"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear its outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_a_notebook_runs_top_to_bottom(
    path: Path, db: Database, ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray
    from nbclient import NotebookClient

    monkeypatch.setenv("FLEETRAY_DATABASE_URL", db.url)
    monkeypatch.setenv("FLEETRAY_DATABASE_SCHEMA", db.schema)
    monkeypatch.setenv("FLEETRAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parents[1])}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
