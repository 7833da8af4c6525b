"""The probes a load balancer uses: /healthz answers while the process lives, /readyz while it can serve."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fleetray.storage import Database
from tests.serve_apps.conftest import World


def test_ready_while_the_schema_is_current_and_not_once_a_migration_is_pending(
    client: TestClient, world: World, db: Database
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "shards": "none running: state is served as last stored"},
    }
    with db.connect() as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    pending = client.get("/readyz")
    assert pending.status_code == 503
    assert pending.json()["checks"]["migrations"] == "1 pending: run `fleetray db migrate`"
    assert client.get("/healthz").status_code == 200  # alive all the same: a restart would not mend it
