"""Manufacturer clouds: the Nimbus connector polling the simulated cloud (rate-limited, failing now and then)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.cloud_poller import CloudPollerCore
from actors.connectors.base import VendorClient
from actors.shard_core import ShardCore
from fleetray.errors import ConnectorError
from fleetray.inventory import SiteRecord, TenantRecord
from fleetray.sim.vendor_cloud import VendorCloud, VendorCloudConfig
from fleetray.storage import Database
from fleetray.storage.connectors import add_account, get_account
from fleetray.storage.fleet import upsert_sites, upsert_tenant


@pytest.fixture
def cloud() -> Iterator[VendorCloud]:
    # A tight rate limit and one failure in five: the poller must pace itself and retry.
    with VendorCloud(VendorCloudConfig(robots=60, requests_per_s=4, failure_rate=0.2, page_size=25)) as running:
        yield running


def test_polling_registers_robots_and_stores_their_reports_once(
    db: Database, tenant_id: str, cloud: VendorCloud
) -> None:
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
        upsert_sites(conn, [SiteRecord(tenant_id=tenant_id, site_id="north", name="North")])
        add_account(conn, tenant_id, "nimbus", base_url=cloud.url, api_token=cloud.config.token, requests_per_s=20)
    shard = ShardCore(0, 1, db)
    poller = CloudPollerCore(db, tenant_id, "nimbus", shard.ingest)
    first = poller.poll_once()
    assert first >= 60 and poller.stats["robots_registered"] == 60
    assert poller.stats["retries"] > 0  # 429s and 503s were retried
    cloud.advance()
    second = poller.poll_once()
    with db.connect() as conn:
        robots = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE site_id = 'north') FROM robots "
            "WHERE tenant_id = %s AND manufacturer = 'Nimbus Robotics'",
            (tenant_id,),
        ).fetchone()
        samples = conn.execute(
            "SELECT count(*), count(DISTINCT robot_id) FROM telemetry WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
        events = conn.execute("SELECT count(*) FROM events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        account = get_account(conn, tenant_id, "nimbus")
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    assert robots == (60, 30)  # a vendor site that exists in fleetray is kept
    assert samples[1] == 60 and samples[0] >= 120  # a new revision of every robot on the second poll
    assert second >= 60 and account["last_error"] is None
    assert events == int(account["cursors"]["events"]) > 0  # every event up to the cursor, each once
    assert dead == 0


def test_a_refusing_cloud_is_recorded_and_the_cursors_stay(db: Database, tenant_id: str, cloud: VendorCloud) -> None:
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
        add_account(conn, tenant_id, "nimbus", base_url=cloud.url, api_token="wrong-token")
    poller = CloudPollerCore(db, tenant_id, "nimbus", ShardCore(0, 1, db).ingest)
    with pytest.raises(ConnectorError, match="401"):
        poller.poll_once()
    with db.connect() as conn:
        account = get_account(conn, tenant_id, "nimbus")
    assert "401" in account["last_error"] and account["cursors"] == {}


def test_the_client_waits_for_its_rate_limit(cloud: VendorCloud) -> None:
    client = VendorClient(cloud.url, cloud.config.token, requests_per_s=3)
    for _ in range(7):
        client.get("/v2/robots", {"page_size": 1})
    client.close()
    assert cloud.served["rate_limited"] == 0  # paced below the cloud's 4/s, so never refused


def test_the_token_bucket_allows_a_burst_then_paces_to_the_rate() -> None:
    from actors.connectors.base import TokenBucket

    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, capacity=3, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]  # the burst
    assert bucket.acquire() == pytest.approx(0.5)  # then one token every 1/2 s
    assert bucket.acquire() == pytest.approx(0.5)
    now[0] += 10  # idle: the bucket refills to its capacity, no further
    assert [bucket.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0)
