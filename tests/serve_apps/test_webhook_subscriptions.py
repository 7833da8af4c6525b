"""Outgoing webhooks through the API: the signing secret shown once, private addresses refused by name."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.serve_apps.conftest import World


def test_an_admin_subscribes_a_public_url_and_a_private_one_is_refused(client: TestClient, world: World) -> None:
    admin = world.auth("acme", "admin")
    before = client.get("/v1/webhooks", headers=admin).json()["items"]
    made = client.post("/v1/webhooks", json={"url": "https://hooks.acme.example/new"}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["secret"] and made.json()["secret"] not in client.get("/v1/webhooks", headers=admin).text
    for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.7/hook", "http://printer.local/hook"):
        refused = client.post("/v1/webhooks", json={"url": url}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "body.url" and "loopback or private" in refused.text
    listed = client.get("/v1/webhooks", headers=admin).json()["items"]
    assert len(listed) == len(before) + 1
    removed = client.delete(f"/v1/webhooks/{made.json()['webhook']['subscription_id']}", headers=admin)
    assert removed.status_code == 204
