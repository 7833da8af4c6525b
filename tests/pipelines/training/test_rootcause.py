"""Root cause reports: features ranked by how they set the minutes before an error apart from normal operation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetray.errors import NotFoundError
from fleetray.sim import FleetSimulator, SimConfig, history_start
from fleetray.sim.persist import write_history
from fleetray.storage import Database
from fleetray.storage.bags import claim_bag
from pipelines.training.rootcause import diagnose

pytestmark = pytest.mark.slow


def test_a_report_ranks_features_and_finds_the_bags_around_the_errors(db: Database, tenant_id: str) -> None:
    write_history(
        FleetSimulator(SimConfig(tenant_id=tenant_id, robots=12, seed=5, start=history_start(0.2), wear_rate=30)),
        db,
        None,
        4 * 3600,
    )
    with db.connect() as conn:
        robot_id, ts = conn.execute(
            "SELECT robot_id, ts FROM events WHERE tenant_id = %s AND code = 'MAIN_BRUSH_OVERCURRENT' "
            "ORDER BY ts DESC LIMIT 1",
            (tenant_id,),
        ).fetchone()
        claim = claim_bag(
            conn,
            tenant_id=tenant_id,
            content_hash="abc",
            uri="s3://bags/run.mcap",
            robot_id=robot_id,
            trigger="error:MAIN_BRUSH_OVERCURRENT",
            received_via="upload",
            size_bytes=10,
        )
        conn.execute(
            "UPDATE bags SET start_time = %s, end_time = %s WHERE bag_id = %s",
            (ts - timedelta(minutes=5), ts + timedelta(minutes=1), claim.bag_id),
        )
    report = diagnose(db, tenant_id, "MAIN_BRUSH_OVERCURRENT", days=1, before_h=1, normal_gap_h=1)
    assert report["occurrences"] > 10 and robot_id in report["robots"]
    importances = [f["importance"] for f in report["features"]]
    assert importances == sorted(importances, reverse=True) and importances[0] > 0
    assert any("main_brush" in f["feature"] for f in report["features"])
    assert [b["bag_id"] for b in report["bags"]] == [claim.bag_id]
    assert report["last_seen"] <= datetime.now(UTC)
    with pytest.raises(NotFoundError, match="error code 'NEVER_SEEN' did not occur in the last 1 days"):
        diagnose(db, tenant_id, "NEVER_SEEN", days=1)
