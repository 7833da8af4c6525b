"""The integration actors on Ray: a poller feeding the shards from a manufacturer's cloud, the supervisor
following accounts added and removed while it runs, and an alert raised by a shard reaching a customer's
webhook, signed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import ray

from actors.cloud_poller import CloudPoller, PollerSupervisor, poller_name
from actors.ingestion import start_ingestion
from actors.intake import RawMessage
from actors.router import ShardRouter
from actors.webhooks import WebhookDispatcher
from fleetray.inventory import RobotRecord, TenantRecord
from fleetray.sim.vendor_cloud import VendorCloud, VendorCloudConfig
from fleetray.storage import Database
from fleetray.storage.connectors import add_account, remove_account
from fleetray.storage.fleet import upsert_robots, upsert_tenant
from fleetray.storage.webhooks import create_subscription
from fleetray.webhook_signing import SIGNATURE_HEADER, verify
from tests.actors.test_webhooks import Receiver
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


def test_poller_and_webhook_dispatcher_on_ray(db: Database, tenant_id: str, ray_session: None) -> None:
    prefix = f"int-{uuid.uuid4().hex[:8]}"
    receiver = Receiver(failures=0)
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
        upsert_robots(
            conn,
            [RobotRecord(tenant_id=tenant_id, robot_id="r1", manufacturer="Gausium", model="Phantas", serial="s1")],
        )
        _, secret = create_subscription(conn, tenant_id, receiver.url, alert_rules=["battery_low"], min_severity="info")
    ingestion = start_ingestion(db, shards=1, prefix=prefix)
    dispatcher = WebhookDispatcher.remote(db.url, db.schema)
    with VendorCloud(VendorCloudConfig(robots=4, failure_rate=0.1)) as cloud:
        with db.connect() as conn:
            add_account(conn, tenant_id, "nimbus", base_url=cloud.url, api_token=cloud.config.token, poll_interval_s=1)
        poller = CloudPoller.remote(db.url, db.schema, tenant_id, "nimbus", 1, prefix)
        try:
            ray.get(dispatcher.stats.remote())

            def nimbus_samples() -> int:
                with db.connect() as conn:
                    return conn.execute(
                        "SELECT count(DISTINCT robot_id) FROM telemetry WHERE tenant_id = %s "
                        "AND robot_id LIKE 'nimbus-%%'",
                        (tenant_id,),
                    ).fetchone()[0]

            assert wait_for(lambda: nimbus_samples() == 4, timeout_s=60)
            # The poll is counted once its cursors are saved, just after the shards stored what it read.
            assert wait_for(lambda: ray.get(poller.stats.remote())["polls"] >= 1, timeout_s=30)

            low = {
                "tenant_id": tenant_id,
                "robot_id": "r1",
                "ts": datetime.now(UTC).isoformat(),
                "seq": 1,
                "status": "cleaning",
                "battery": {"soc": 0.03},
            }
            ShardRouter(1, prefix=prefix).deliver(
                [RawMessage("telemetry", tenant_id, "r1", json.dumps(low).encode(), f"fr/v1/{tenant_id}/r1/telemetry")]
            )
            assert wait_for(lambda: receiver.received, timeout_s=60)
            headers, body = receiver.received[0]
            verify(secret, headers[SIGNATURE_HEADER], body)
            assert json.loads(body)["data"]["rule"] == "battery_low"
            assert wait_for(lambda: ray.get(dispatcher.stats.remote())["sent"] == 1, timeout_s=30)
        finally:
            for actor in (poller, dispatcher):
                ray.get(actor.stop.remote())
                ray.kill(actor)
            ingestion.stop()
            receiver.server.shutdown()


def test_an_account_added_while_the_platform_runs_is_polled_and_a_removed_one_let_go(
    db: Database, tenant_id: str, ray_session: None
) -> None:
    prefix = f"sup-{uuid.uuid4().hex[:8]}"
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
    ingestion = start_ingestion(db, shards=1, prefix=prefix)
    supervisor = PollerSupervisor.remote(db.url, db.schema, 1, prefix, sync_s=0.5)
    try:
        assert ray.get(supervisor.accounts.remote()) == []
        with VendorCloud(VendorCloudConfig(robots=3, failure_rate=0.0)) as cloud:
            with db.connect() as conn:
                add_account(
                    conn, tenant_id, "nimbus", base_url=cloud.url, api_token=cloud.config.token, poll_interval_s=1
                )
                # An account of a connector this installation lacks (a plugin removed) gets no poller.
                add_account(conn, tenant_id, "acmebot", base_url=cloud.url, api_token="unused")

            def vendor_robots() -> int:
                with db.connect() as conn:
                    return conn.execute(
                        "SELECT count(DISTINCT robot_id) FROM telemetry WHERE tenant_id = %s", (tenant_id,)
                    ).fetchone()[0]

            assert wait_for(lambda: vendor_robots() == 3, timeout_s=60)
            assert ray.get(supervisor.accounts.remote()) == [f"{tenant_id}/nimbus"]
            with db.connect() as conn:
                remove_account(conn, tenant_id, "nimbus")
            assert wait_for(lambda: ray.get(supervisor.accounts.remote()) == [], timeout_s=30)

            def poller_gone() -> bool:
                try:
                    ray.get_actor(poller_name(tenant_id, "nimbus", prefix))
                except ValueError:
                    return True
                return False

            assert wait_for(poller_gone, timeout_s=30)
    finally:
        ray.get(supervisor.stop.remote())
        ray.kill(supervisor)
        ingestion.stop()
