"""Two tenants with a site, robots, history, events, an alert, a task and maintenance, and keys of every role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from actors.alerts import AlertChange
from fleetray.config import load_settings
from fleetray.inventory import MaintenanceRecord, RobotRecord, SiteRecord, TenantRecord
from fleetray.schemas import AgentHeartbeat, RobotEvent, Telemetry
from fleetray.storage import Database
from fleetray.storage.agents import create_command, put_config, record_heartbeats
from fleetray.storage.alerts import persist_alert_changes
from fleetray.storage.api_keys import Role, create_key
from fleetray.storage.bag_uploads import BagUpload, record_upload
from fleetray.storage.bags import claim_bag
from fleetray.storage.events import write_events
from fleetray.storage.fleet import upsert_robots, upsert_sites, upsert_tenant, write_maintenance
from fleetray.storage.models import insert_model
from fleetray.storage.releases import add_release
from fleetray.storage.schedule_jobs import create_job
from fleetray.storage.telemetry import TelemetryWriter, write_minute_aggregates
from fleetray.storage.webhooks import create_subscription
from serve_apps.api.app import create_app
from serve_apps.api.context import ApiContext

TENANTS = ("acme", "globex")


@dataclass
class World:
    """Ids of what each tenant owns, and a token per (tenant, role)."""

    tokens: dict[tuple[str, str], str]
    alert_ids: dict[str, int]
    subscription_ids: dict[str, int]
    job_ids: dict[str, str]
    upload_ids: dict[str, str]  # a bag upload each tenant's device started
    model_ids: dict[str, int]  # a model version each tenant registered (rows only: no artifact)
    now: datetime
    bag_ids: dict[str, int]  # an indexed bag each tenant's robot uploaded
    command_ids: dict[str, str]  # a command an operator sent each tenant's robot

    def key_id(self, tenant: str, role: str) -> str:
        return self.tokens[(tenant, role)].split("_")[1]

    def auth(self, tenant: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(tenant, role)]}"}


def _sample(tenant: str, robot: str, seq: int, ts: datetime) -> Telemetry:
    return Telemetry.model_validate(
        {
            "tenant_id": tenant,
            "robot_id": robot,
            "ts": ts,
            "seq": seq,
            "status": "cleaning",
            "task_id": f"{tenant}-t1",
            "pose": {"x": 1.0 + seq, "y": 2.0, "theta": 0.1},
            "battery": {"soc": 0.8, "voltage": 25.0, "current": -3.0, "temp": 30.0, "charging": False},
            "components": {"main_brush": {"current_a": 1.2, "temp_c": 40.0}},
        }
    )


def seed(db: Database) -> World:
    now = datetime.now(UTC).replace(microsecond=0)
    tokens: dict[tuple[str, str], str] = {}
    alert_ids: dict[str, int] = {}
    subscription_ids: dict[str, int] = {}
    job_ids: dict[str, str] = {}
    upload_ids: dict[str, str] = {}
    model_ids: dict[str, int] = {}
    bag_ids: dict[str, int] = {}
    command_ids: dict[str, str] = {}
    with db.connect() as conn:
        for tenant in TENANTS:
            upsert_tenant(conn, TenantRecord(tenant_id=tenant, name=tenant.title()))
            upsert_sites(conn, [SiteRecord(tenant_id=tenant, site_id=f"{tenant}-hq", name="HQ")])
            upsert_robots(
                conn,
                [
                    RobotRecord(
                        tenant_id=tenant,
                        robot_id=f"{tenant}-r1",
                        manufacturer="Gausium",
                        model="Phantas",
                        serial=f"{tenant}-s1",
                        site_id=f"{tenant}-hq",
                    )
                ],
            )
            TelemetryWriter().write_messages(
                conn, [_sample(tenant, f"{tenant}-r1", seq, now - timedelta(seconds=60 - seq)) for seq in range(30)]
            )
            write_minute_aggregates(
                conn,
                [
                    (
                        tenant,
                        f"{tenant}-r1",
                        now.replace(second=0) - timedelta(minutes=m),
                        "battery.soc",
                        60,
                        0.8,
                        0.7,
                        0.9,
                        0.75,
                    )
                    for m in range(1, 4)
                ],
            )
            write_events(
                conn,
                [
                    RobotEvent.model_validate(
                        {
                            "tenant_id": tenant,
                            "robot_id": f"{tenant}-r1",
                            "ts": now - timedelta(seconds=30),
                            "seq": 1,
                            "level": "ERROR",
                            "code": "E_BRUSH_JAM",
                            "message": "main brush jammed",
                            "component": "main_brush",
                        }
                    )
                ],
            )
            persist_alert_changes(
                conn, [AlertChange(tenant, f"{tenant}-r1", "battery_low", True, now, message="battery low")]
            )
            (alert_ids[tenant],) = conn.execute(
                "SELECT alert_id FROM alerts WHERE tenant_id = %s", (tenant,)
            ).fetchone()
            conn.execute(
                "INSERT INTO tasks (tenant_id, task_id, robot_id, site_id, status, updated_at) "
                "VALUES (%s, %s, %s, %s, 'started', %s)",
                (tenant, f"{tenant}-t1", f"{tenant}-r1", f"{tenant}-hq", now),
            )
            write_maintenance(
                conn,
                [
                    MaintenanceRecord(
                        tenant_id=tenant,
                        robot_id=f"{tenant}-r1",
                        component="main_brush",
                        kind="replacement",
                        performed_at=now - timedelta(days=3),
                    )
                ],
            )
            subscription, _ = create_subscription(
                conn, tenant, f"https://hooks.{tenant}.example/alerts", alert_rules=[], min_severity="info"
            )
            subscription_ids[tenant] = subscription["subscription_id"]
            job_ids[tenant] = create_job(conn, tenant, {"locations": [], "robots": []})["job_id"]
            for role in Role:
                robot = f"{tenant}-r1" if role is Role.DEVICE else None
                tokens[(tenant, role.value)] = create_key(conn, tenant, role, robot_id=robot).token
            upload_ids[tenant] = f"{tenant}-upload-1"
            record_upload(
                conn,
                BagUpload(
                    upload_ids[tenant],
                    tenant,
                    f"{tenant}-r1",
                    f"bags/{tenant}/{tenant}-r1/2026-11-27/run.mcap",
                    1,
                    1000,
                    None,
                    "uploading",
                    now,
                    now + timedelta(hours=1),
                    None,
                ),
            )
            model_ids[tenant] = insert_model(
                conn,
                {
                    "name": "failure-xgboost",
                    "tenant_id": tenant,
                    "kind": "xgboost",
                    "task": "failure",
                    "uri": f"models/{tenant}/model.zip",
                    "feature_version": "0000000000000000",
                    "data_hash": "0000000000000000",
                    "code_version": "test",
                    "components": ["main_brush"],
                    "created_by": "test",
                },
            )["model_id"]
            bag_ids[tenant] = claim_bag(
                conn,
                tenant_id=tenant,
                content_hash=f"{tenant}-hash",
                robot_id=f"{tenant}-r1",
                uri=f"bags/{tenant}/{tenant}-r1/2026-11-27/run.mcap",
                trigger="error:E_X",
                received_via="upload",
                size_bytes=1000,
            ).bag_id
            command_ids[tenant] = create_command(
                conn, tenant, f"{tenant}-r1", "record", {"minutes": 1}, created_by="test", expires_at=None
            )["command_id"]
            put_config(conn, tenant, f"{tenant}-r1", {"heartbeat_s": 10}, updated_by="test")
            record_heartbeats(
                conn,
                [
                    AgentHeartbeat(
                        tenant_id=tenant,
                        robot_id=f"{tenant}-r1",
                        ts=now,
                        agent_version="0.1.0",
                        started_at=now,
                        cpu_percent=1.0,
                        rss_mb=50.0,
                        queue_messages=0,
                        queue_bytes=0,
                        dropped=0,
                    )
                ],
            )
            version = "1.0.0" if tenant == "acme" else "1.1.0"  # a version is the tenant's own, as any object
            release = {
                "tenant_id": tenant,
                "version": version,
                "filename": f"fleetray-{version}-py3-none-any.whl",
                "sha256": "0" * 64,
                "signature": "0" * 128,
                "object_key": f"agent-releases/{tenant}/x.whl",
                "size_bytes": 1,
                "uploaded_by": "test",
            }
            add_release(conn, release)
    return World(tokens, alert_ids, subscription_ids, job_ids, upload_ids, model_ids, now, bag_ids, command_ids)


@pytest.fixture
def api_context(db: Database, mqtt_url: str) -> Iterator[ApiContext]:
    settings = load_settings(
        database_url=db.url,
        database_schema=db.schema,
        api_rate_limit="1000/second",
        schedule_max_time_limit_s=5,
        mqtt_url=mqtt_url,
    )
    context = ApiContext(settings, db)
    yield context
    context.close()


@pytest.fixture
def live_api_context(db: Database, ray_session: None, mqtt_url: str) -> Iterator[ApiContext]:
    """An API context over running fleet shards (and the hub), under a name prefix of this test's own."""
    from actors.ingestion import start_ingestion

    prefix = f"api-{uuid.uuid4().hex[:8]}"
    ingestion = start_ingestion(db, shards=1, prefix=prefix)
    settings = load_settings(
        database_url=db.url,
        database_schema=db.schema,
        api_rate_limit="1000/second",
        schedule_max_time_limit_s=0.5,
        mqtt_url=mqtt_url,
    )
    context = ApiContext(settings, db, shard_prefix=prefix)
    yield context
    context.close()
    ingestion.stop()


@pytest.fixture
def world(db: Database) -> World:
    return seed(db)


@pytest.fixture
def client(api_context: ApiContext, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(api_context), raise_server_exceptions=False) as test_client:
        yield test_client
