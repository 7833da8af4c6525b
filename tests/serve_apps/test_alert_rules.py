"""A tenant's alert rules through the API: read by anyone of the tenant, changed by admins, checked by name."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.serve_apps.conftest import World


def test_an_admin_sets_and_resets_thresholds_and_other_tenants_see_none_of_it(client: TestClient, world: World) -> None:
    admin, viewer = world.auth("acme", "admin"), world.auth("acme", "viewer")
    empty = client.get("/v1/alert-rules", headers=viewer).json()
    assert empty["items"] == [] and empty["defaults"]["battery_low_raise"] == 0.15
    assert "predicted failure risk" in empty["descriptions"]["maintenance_due_raise"]
    rules = {"model": "Phantas", "overrides": {"battery_low_raise": 0.3, "battery_low_clear": 0.4}}
    written = client.put("/v1/alert-rules", json=rules, headers=admin)
    assert written.status_code == 200, written.text
    effective = written.json()["effective"]
    assert effective["battery_low_raise"] == 0.3 and effective["offline_after_s"] == 120  # the rest: defaults
    assert client.put("/v1/alert-rules", json=rules, headers=world.auth("acme", "operator")).status_code == 403
    listed = client.get("/v1/alert-rules", headers=viewer).json()["items"]
    assert [(r["model"], r["overrides"]) for r in listed] == [("Phantas", rules["overrides"])]
    assert client.get("/v1/alert-rules", headers=world.auth("globex", "viewer")).json()["items"] == []
    for _ in range(2):  # back to the defaults is a state: asking twice is no error
        assert client.delete("/v1/alert-rules", params={"model": "Phantas"}, headers=admin).status_code == 204
    assert client.get("/v1/alert-rules", headers=viewer).json()["items"] == []


def test_thresholds_that_cannot_hold_are_refused_by_name_and_nothing_is_stored(
    client: TestClient, world: World
) -> None:
    admin = world.auth("acme", "admin")
    for overrides, field, message in (
        ({"battery_low_raise": 0.5, "battery_low_clear": 0.4}, "body.overrides", "battery_low_clear"),
        ({"battery_lo_raise": 0.3}, "body.overrides.battery_lo_raise", "Extra inputs are not permitted"),
        ({"offline_after_s": -5}, "body.overrides.offline_after_s", "greater than 0"),
    ):
        refused = client.put("/v1/alert-rules", json={"overrides": overrides}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field and message in refused.text, refused.text
    assert client.get("/v1/alert-rules", headers=admin).json()["items"] == []
