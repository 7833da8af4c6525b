from __future__ import annotations

from datetime import timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq

from fleetray.config import get_settings
from fleetray.lake import read_lake
from fleetray.objectstore import ObjectStore
from fleetray.sim import FleetSimulator, SimConfig, history_start
from fleetray.sim.persist import write_history
from fleetray.storage import Database
from fleetray.storage.fleet import list_robots
from fleetray.storage.telemetry import read_minutes, rollup_minutes


def test_history_lands_in_database_lake_and_ground_truth(db: Database, tenant_id: str) -> None:
    store = ObjectStore.from_settings(get_settings())
    start = history_start(8 / 24)
    sim = FleetSimulator(SimConfig(tenant_id=tenant_id, robots=6, seed=4, start=start, wear_rate=200))
    report = write_history(sim, db, store, 8 * 3600, chunk_s=3600)

    with db.connect() as conn:
        stored = conn.execute("SELECT count(*) FROM telemetry WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        tasks = conn.execute("SELECT count(*) FROM tasks WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        robots = list_robots(conn, tenant_id)
    assert stored == report.telemetry_rows == report.new_telemetry_rows > 6 * 28_000
    assert events == report.events > 0
    assert tasks > 0
    assert len(robots) == 6

    lake = read_lake(store, "telemetry", tenant_id=tenant_id)
    assert lake.num_rows == report.telemetry_rows
    assert pc.min(lake["ts"]).as_py() == start
    assert len(report.lake_files) <= 3  # files hold many rows, not one per message
    assert {"wear", "failures", "maintenance"} <= {key.split("/")[2] for key in report.ground_truth_files}
    failures_key = next(k for k in report.ground_truth_files if "/failures/" in k)
    failures = pq.read_table(store.path(failures_key), filesystem=store.filesystem)
    assert failures.num_rows == report.failures > 0
    assert set(failures.column_names) == {"tenant_id", "robot_id", "component", "ts", "usage"}


def test_minute_aggregates_match_a_rollup_from_raw_telemetry(db: Database, tenant_id: str) -> None:
    start = history_start(1 / 24)
    sim = FleetSimulator(SimConfig(tenant_id=tenant_id, robots=3, seed=9, start=start, wear_rate=50))
    write_history(sim, db, None, 600, chunk_s=300)
    query = "SELECT robot_id, bucket, metric, n, mean, min, max, last FROM telemetry_1m ORDER BY 1, 2, 3"
    with db.connect() as conn:
        from_columns = conn.execute(query).fetchall()
        conn.execute("DELETE FROM telemetry_1m")
        rollup_minutes(conn, start=start, end=start + timedelta(minutes=10))
        from_sql = conn.execute(query).fetchall()
        brush = read_minutes(
            conn, tenant_id, "r00000", metric="battery.soc", start=start, end=start + timedelta(hours=1)
        )
    assert len(from_columns) == len(from_sql) > 3 * 10 * 20
    for left, right in zip(from_columns, from_sql, strict=True):
        assert left[:4] == right[:4]
        assert all(abs(a - b) < 1e-9 for a, b in zip(left[4:], right[4:], strict=True))
    assert len(brush) == 10


def test_writing_the_same_history_twice_changes_nothing(db: Database, tenant_id: str) -> None:
    store = ObjectStore.from_settings(get_settings())
    config = SimConfig(tenant_id=tenant_id, robots=3, seed=1, start=history_start(1 / 24))
    first = write_history(FleetSimulator(config), db, store, 600, chunk_s=300)
    second = write_history(FleetSimulator(config), db, store, 600, chunk_s=300)
    assert second.new_telemetry_rows == 0
    assert first.lake_files == second.lake_files
    assert read_lake(store, "telemetry", tenant_id=tenant_id).num_rows == first.telemetry_rows
