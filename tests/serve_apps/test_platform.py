"""`fleetray up` serves the REST API beside ingestion and the integrations, and stops it all."""

from __future__ import annotations

import httpx
import pytest

from fleetray.config import load_settings
from fleetray.errors import ConfigError, ServiceError
from fleetray.inventory import TenantRecord
from fleetray.services import Platform
from fleetray.services.ports import free_port
from fleetray.storage import Database
from fleetray.storage.api_keys import create_key
from fleetray.storage.fleet import upsert_tenant

pytestmark = pytest.mark.slow


def test_up_serves_the_api_and_stops_it(db: Database, mqtt_url: str, ray_session: None) -> None:
    port = free_port()
    settings = load_settings(database_url=db.url, database_schema=db.schema, mqtt_url=mqtt_url, shards=1, api_port=port)
    with Platform(settings) as platform:
        assert set(platform.components) == {"ingestion", "integrations", "bags", "maintenance", "reports", "api"}
        assert "last week's made for every tenant" in platform.components["reports"].describe()
        assert "bags/ every 60 s" in platform.components["bags"].describe()
        assert "every 300 s for maintenance_due" in platform.components["maintenance"].describe()
        assert f"127.0.0.1:{port}" in platform.components["api"].describe()
        with db.connect() as conn:
            upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
            token = create_key(conn, "acme", "viewer").token
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/fleet/state", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json() == {"items": [], "next_cursor": None}
        predictions = httpx.get(
            f"http://127.0.0.1:{port}/v1/fleet/predictions", headers={"Authorization": f"Bearer {token}"}
        )
        assert predictions.status_code == 200 and predictions.json() == {"items": []}  # through the Scorer deployment
        with pytest.raises(ServiceError, match=f"port {port} is in use"):
            from serve_apps.api.deployment import run_api

            run_api(settings, database_url=db.url)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_up_starts_only_the_components_named_and_refuses_unknown_ones(
    db: Database, mqtt_url: str, ray_session: None
) -> None:
    settings = load_settings(
        database_url=db.url, database_schema=db.schema, mqtt_url=mqtt_url, shards=1, components="reports, ingestion"
    )
    with Platform(settings) as platform:
        assert set(platform.components) == {"ingestion", "reports"}  # the API is a RayService's on KubeRay
    wrong = settings.model_copy(update={"components": "ingestion,shards"})
    with (
        pytest.raises(ConfigError, match="names shards; the installed ones are api, bags, ingestion"),
        Platform(wrong),
    ):
        pass
