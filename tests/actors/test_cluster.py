from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fleetray.mqtt import connect
from fleetray.storage import Database

SCENARIO = Path(__file__).with_name("cluster_scenario.py")


@pytest.mark.slow
def test_three_nodes_lose_nothing_when_the_shard_node_goes_mid_load(
    db: Database, tenant_id: str, mqtt_url: str, tmp_path: Path
) -> None:
    prefix = f"c{uuid.uuid4().hex[:6]}"
    observed_at = tmp_path / "observed.json"
    result = subprocess.run(
        [sys.executable, str(SCENARIO), db.url, db.schema, mqtt_url, tenant_id, prefix, str(observed_at)],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    # The scenario's ingestor session is persistent: do not leave it behind in a shared broker.
    connect(mqtt_url, f"{prefix}-ingest-0", clean_start=True).disconnect()
    assert result.returncode == 0, result.stderr[-4000:]
    observed = json.loads(observed_at.read_text())
    assert observed["shards_on_removed_node"] == 2, observed
    assert observed["shards_on_replacement"] == 2, observed
    assert observed["stored"] == observed["sent"] > 0, observed
    assert observed["api_on_its_node"], observed
    assert observed["api_status"] == [200] * 4, observed
    assert observed["latest_seq"] == [32] * 4, observed
    assert observed["bags"] == ["done"] * 3, observed
