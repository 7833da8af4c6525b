"""A tenant's manufacturer-cloud accounts through the API: admins connect and disconnect, everyone of the
tenant sees how polling goes, nobody sees the token, and other tenants see nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.serve_apps.conftest import World

NIMBUS = {
    "base_url": "https://api.nimbus-robotics.example/",
    "api_token": "nimbus-token-1",
    "poll_interval_s": 60,
    "requests_per_s": 2,
    "site_id": "acme-hq",
}


def test_an_admin_connects_changes_and_disconnects_a_cloud_and_the_token_never_comes_back(
    client: TestClient, world: World
) -> None:
    admin, viewer = world.auth("acme", "admin"), world.auth("acme", "viewer")
    assert client.get("/v1/connectors", headers=viewer).json() == {"installed": ["nimbus"], "accounts": []}

    created = client.put("/v1/connectors/nimbus", json=NIMBUS, headers=admin)
    assert created.status_code == 201, created.text
    secret = created.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    account = created.json()["account"]
    assert account["base_url"] == "https://api.nimbus-robotics.example"
    assert account["manufacturer"] == "Nimbus Robotics"
    assert account["webhook_url"].endswith("/v1/connectors/nimbus/webhooks/acme")
    assert account["last_polled_at"] is None

    changed = client.put("/v1/connectors/nimbus", json={**NIMBUS, "poll_interval_s": 10}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["webhook_secret"] is None  # shown once, when the account was made
    listed = client.get("/v1/connectors", headers=viewer)
    assert [a["poll_interval_s"] for a in listed.json()["accounts"]] == [10]
    assert "nimbus-token-1" not in listed.text and secret not in listed.text
    assert client.get("/v1/connectors", headers=world.auth("globex", "admin")).json()["accounts"] == []

    for role in ("viewer", "operator"):
        assert client.put("/v1/connectors/nimbus", json=NIMBUS, headers=world.auth("acme", role)).status_code == 403
        assert client.delete("/v1/connectors/nimbus", headers=world.auth("acme", role)).status_code == 403
    assert client.delete("/v1/connectors/nimbus", headers=world.auth("globex", "admin")).status_code == 404
    assert client.delete("/v1/connectors/nimbus", headers=admin).status_code == 204
    assert client.get("/v1/connectors", headers=viewer).json()["accounts"] == []
    assert client.delete("/v1/connectors/nimbus", headers=admin).status_code == 404


def test_bad_accounts_are_refused_by_name_and_nothing_is_stored(client: TestClient, world: World) -> None:
    admin = world.auth("acme", "admin")
    for connector, body, status, needle in (
        ("acme-cloud", NIMBUS, 404, "no connector 'acme-cloud' is installed; installed: nimbus"),
        ("nimbus", {**NIMBUS, "base_url": "http://127.0.0.1:9000"}, 422, "loopback or private address"),
        ("nimbus", {**NIMBUS, "site_id": "globex-hq"}, 422, "site 'globex-hq' is not one of the tenant's sites"),
        ("nimbus", {**NIMBUS, "poll_interval_s": 0}, 422, "body.poll_interval_s"),
        ("nimbus", {**NIMBUS, "api_token": ""}, 422, "body.api_token"),
        ("nimbus", {**NIMBUS, "token": "x"}, 422, "body.token"),
    ):
        refused = client.put(f"/v1/connectors/{connector}", json=body, headers=admin)
        assert refused.status_code == status and needle in refused.text, refused.text
    assert client.get("/v1/connectors", headers=admin).json()["accounts"] == []
