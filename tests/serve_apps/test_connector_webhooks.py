"""Webhooks pushed by a manufacturer's cloud: verified, ingested once, replays and forgeries refused alike."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from fleetray.sim.vendor_cloud import WEBHOOK_SIGNATURE_HEADER, VendorCloud, VendorCloudConfig
from fleetray.storage.connectors import add_account
from fleetray.webhook_signing import sign
from serve_apps.api.app import create_app
from serve_apps.api.context import ApiContext
from tests.serve_apps.conftest import World

pytestmark = pytest.mark.slow


def test_signed_webhooks_are_ingested_once(live_api_context: ApiContext, world: World) -> None:
    with live_api_context.connection() as conn:
        account = add_account(conn, "acme", "nimbus", base_url="http://127.0.0.1:9", api_token="unused")
    url = "/v1/connectors/nimbus/webhooks/acme"
    with (
        VendorCloud(VendorCloudConfig(robots=20, tick_s=60)) as cloud,
        TestClient(create_app(live_api_context)) as client,
    ):
        for _ in range(40):
            cloud.advance()
        pushed = cloud.push_webhooks(f"http://testserver{url}", account["webhook_secret"], client=client)
        assert pushed == len(cloud._world.events) > 0

        body = json.dumps({"type": "robot.event", "data": cloud._world.events[0]}).encode()
        signature = sign(account["webhook_secret"], body, timestamp=int(time.time()) + 30)  # unlike the push's
        headers = {WEBHOOK_SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
        first = client.post(url, content=body, headers=headers)
        replay = client.post(url, content=body, headers=headers)
        assert first.status_code == 202  # a new delivery of an event already stored: stored once, by (robot, seq)
        assert replay.status_code == 409

        forged = client.post(url, content=body, headers={WEBHOOK_SIGNATURE_HEADER: sign("guess", body)})
        other_tenant = client.post("/v1/connectors/nimbus/webhooks/globex", content=body, headers=headers)
        unknown = client.post("/v1/connectors/acme-cloud/webhooks/acme", content=body, headers=headers)
        stale = client.post(
            url,
            content=body,
            headers={WEBHOOK_SIGNATURE_HEADER: sign(account["webhook_secret"], body, timestamp=1_700_000_000)},
        )
        for refused in (forged, other_tenant, unknown, stale):
            assert refused.status_code == 401 and refused.json()["detail"] == forged.json()["detail"]
    with live_api_context.connection() as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE tenant_id = 'acme' AND robot_id LIKE 'nimbus-%'")
        assert stored.fetchone()[0] == len(cloud._world.events)
