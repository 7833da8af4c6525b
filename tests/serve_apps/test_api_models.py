"""Predictions and the registry over the API: risk and RUL per component with reasons, promotion and rollback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from fleetray.learning import split_units
from fleetray.learning.simulated import simulated_history
from fleetray.objectstore import ObjectStore
from fleetray.sim import SimConfig
from fleetray.storage import models as model_rows
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from pipelines.training.registry import register
from serve_apps.api.context import ApiContext
from tests.serve_apps.conftest import World


@pytest.fixture(scope="module")
def platform_models() -> dict[str, ModelBundle]:
    config = SimConfig(tenant_id="training", robots=12, seed=7, start=datetime(2026, 3, 2, tzinfo=UTC), wear_rate=400)
    table = simulated_history(config, 3 * 3600).training_table(horizon_h=0.25, rul_cap_h=1, sample_every_min=2)
    split = split_units(table.units, seed=1)
    bundles = {}
    for task in ("failure", "rul"):
        result = xgb.train_xgboost(table, split, task=task, rounds=20)
        bundles[task] = xgb.bundle_of(table, result, task=task, params={})
    return bundles


def _publish(context: ApiContext, bundles: dict[str, ModelBundle], **options: object) -> list[dict]:
    store = ObjectStore.from_settings(context.settings)
    return [
        register(b, db=context.db, store=store, data_hash="h", stage="production", **options) for b in bundles.values()
    ]


def test_a_robot_gets_risk_and_rul_per_component_with_reasons(
    client: TestClient, api_context: ApiContext, world: World, platform_models: dict[str, ModelBundle]
) -> None:
    _publish(api_context, platform_models)
    answer = client.get("/v1/robots/acme-r1/predictions", headers=world.auth("acme", "viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    failure, rul = platform_models["failure"].components, platform_models["rul"].components
    assert set(body["components"]) == set(failure) | set(rul)
    for component in failure:
        figures = body["components"][component]
        assert 0 <= figures["failure_probability"] <= 1 and figures["horizon_h"] == 0.25
        assert all({"feature", "contribution", "value"} <= set(reason) for reason in figures["reasons"])
    assert all(body["components"][component]["rul_h"] >= 0 for component in rul)
    assert body["risk"] == max(body["components"][c]["failure_probability"] for c in failure)
    assert body["models"]["failure-xgboost"]["scope"] == "fleet"
    fleet = client.get("/v1/fleet/predictions", headers=world.auth("acme", "viewer")).json()["items"]
    assert [item["robot_id"] for item in fleet] == ["acme-r1"]
    assert client.get("/v1/robots/globex-r1/predictions", headers=world.auth("acme", "viewer")).status_code == 404


def test_without_a_production_model_the_answer_says_so(client: TestClient, world: World) -> None:
    body = client.get("/v1/robots/acme-r1/predictions", headers=world.auth("acme", "viewer")).json()
    assert body["components"] == {} and body["risk"] is None
    assert body["models"] == {"failure-xgboost": None, "rul-xgboost": None}


def test_a_production_model_of_other_features_is_refused_with_409(
    client: TestClient, api_context: ApiContext, world: World, platform_models: dict[str, ModelBundle]
) -> None:
    stale = ModelBundle.from_bytes(platform_models["failure"].to_bytes())
    store = ObjectStore.from_settings(api_context.settings)
    store.put("models/stale.zip", stale.to_bytes())
    with api_context.db.connect() as conn:
        row = model_rows.insert_model(
            conn,
            {
                "name": "failure-xgboost",
                "tenant_id": "acme",
                "kind": "xgboost",
                "task": "failure",
                "uri": "models/stale.zip",
                "feature_version": "ffffffffffffffff",
                "data_hash": "h",
                "code_version": "old",
                "components": stale.components,
                "created_by": "test",
            },
        )
        model_rows.set_stage(conn, row["model_id"], "production", changed_by="test")
    stale.feature_version = "ffffffffffffffff"
    store.put("models/stale.zip", stale.to_bytes())
    answer = client.get("/v1/robots/acme-r1/predictions", headers=world.auth("acme", "viewer"))
    assert answer.status_code == 409 and "trained on feature version ffffffffffffffff" in answer.json()["detail"]


def test_admins_promote_and_roll_back_their_own_models(
    client: TestClient, api_context: ApiContext, world: World, platform_models: dict[str, ModelBundle]
) -> None:
    own = world.model_ids["acme"]
    viewer, admin = world.auth("acme", "viewer"), world.auth("acme", "admin")
    assert client.post(f"/v1/models/{own}:promote", headers=viewer, json={}).status_code == 403
    promoted = client.post(f"/v1/models/{own}:promote", headers=admin, json={"stage": "production"})
    assert promoted.status_code == 200 and promoted.json()["stage"] == "production"
    newer = _publish(api_context, {"failure": platform_models["failure"]}, tenant_id="acme")[0]
    assert client.get(f"/v1/models/{own}", headers=viewer).json()["stage"] == "archived"
    back = client.post(f"/v1/models/{newer['model_id']}:rollback", headers=admin)
    assert back.status_code == 200 and back.json()["model_id"] == own and back.json()["stage"] == "production"
    fleet_wide = _publish(api_context, {"rul": platform_models["rul"]})[0]
    refused = client.post(f"/v1/models/{fleet_wide['model_id']}:promote", headers=admin, json={"stage": "archived"})
    assert refused.status_code == 403 and "fleet-wide" in refused.json()["detail"]
    listed = client.get("/v1/models", headers=viewer, params={"stage": "production"}).json()["items"]
    assert {(m["name"], m["scope"]) for m in listed} == {("failure-xgboost", "acme"), ("rul-xgboost", "fleet")}


def test_maintenance_recommendations_come_with_schedule_fields(
    client: TestClient, api_context: ApiContext, world: World, platform_models: dict[str, ModelBundle]
) -> None:
    _publish(api_context, platform_models)
    answer = client.get(
        "/v1/maintenance/recommendations", headers=world.auth("acme", "planner"), params={"within_h": 24 * 90}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body["schedule"]) <= {"acme-r1"} and all(item["robot_id"] == "acme-r1" for item in body["items"])
    due = [item["due_at"] for item in body["items"]]
    assert due == sorted(due)
    # RUL runs out within 90 days for at least one part of a robot this worn (the model's cap is 1 h).
    assert body["items"] and body["schedule"]["acme-r1"]["maintenance"]


def test_maintenance_due_alerts_rise_and_clear_with_hysteresis() -> None:
    from actors.alerts import AlertPolicy
    from serve_apps.scoring.watch import maintenance_changes

    policy = AlertPolicy(maintenance_due_raise=0.7, maintenance_due_clear=0.5)
    now = datetime.now(UTC)

    def prediction(robot_id: str, risk: float) -> dict:
        component = {"failure_probability": risk, "failure_predicted": risk >= 0.6, "horizon_h": 24, "reasons": []}
        return {"robot_id": robot_id, "risk": risk, "components": {"vacuum": component}}

    predictions = [prediction("a", 0.8), prediction("b", 0.6), prediction("c", 0.6), prediction("d", 0.3)]
    changes = maintenance_changes("t", predictions, {}, {"c", "d"}, lambda tenant, model: policy, now)
    assert [(c.robot_id, c.raised) for c in changes] == [("a", True), ("d", False)]  # b and c sit in the band
    assert changes[0].details["components"] == {"vacuum": 0.8} and "vacuum likely to fail" in changes[0].message


@pytest.mark.usefixtures("ray_session")
def test_the_watch_raises_alerts_that_reach_the_api(
    client: TestClient, api_context: ApiContext, world: World, platform_models: dict[str, ModelBundle]
) -> None:
    import json

    import ray

    from serve_apps.scoring.watch import MaintenanceWatch

    _publish(api_context, platform_models)
    with api_context.db.connect() as conn:
        conn.execute(
            "INSERT INTO alert_policies (tenant_id, overrides) VALUES ('acme', %s)",
            (json.dumps({"maintenance_due_raise": 0.0001, "maintenance_due_clear": 0.00005}),),
        )
    store = ObjectStore.from_settings(api_context.settings)
    watch = MaintenanceWatch.remote(
        api_context.db.url, api_context.db.schema, {"url": store.url, "signing_key": b"x"}, 0, shard_prefix="nobody"
    )
    try:
        assert ray.get(watch.run_once.remote()) == 1  # acme's robot; globex keeps the default threshold
    finally:
        ray.kill(watch)
    alerts = client.get("/v1/alerts", headers=world.auth("acme", "viewer"), params={"rule": "maintenance_due"})
    (alert,) = [a for a in alerts.json()["items"] if a["rule"] == "maintenance_due"]
    assert alert["robot_id"] == "acme-r1" and alert["state"] == "active" and "likely to fail" in alert["message"]
