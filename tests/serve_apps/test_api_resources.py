import csv
import io
import json

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from tests.serve_apps.conftest import World


def test_a_viewer_reads_its_fleet(client: TestClient, world: World) -> None:
    headers = world.auth("acme", "viewer")
    me = client.get("/v1/me", headers=headers).json()
    assert me["tenant_id"] == "acme" and me["role"] == "viewer"
    robots = client.get("/v1/robots", headers=headers).json()
    assert [r["robot_id"] for r in robots["items"]] == ["acme-r1"] and robots["next_cursor"] is None
    state = client.get("/v1/robots/acme-r1/state", headers=headers)
    assert state.status_code == 200, state.text
    body = state.json()
    assert body["source"] == "stored" and body["status"] == "cleaning" and body["seq"] == 29
    assert body["alerts"] == ["battery_low"]
    fleet = client.get("/v1/fleet/state", params={"site_id": "acme-hq"}, headers=headers).json()
    assert [s["robot_id"] for s in fleet["items"]] == ["acme-r1"]
    events = client.get("/v1/events", params={"level": "ERROR"}, headers=headers).json()
    assert [e["code"] for e in events["items"]] == ["E_BRUSH_JAM"]


def test_history_pages_by_cursor_and_downloads(client: TestClient, world: World) -> None:
    headers = world.auth("acme", "viewer")
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/robots/acme-r1/telemetry", params=params, headers=headers)
        assert page.status_code == 200, page.text
        seen += [row["seq"] for row in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(30))
    minutes = client.get(
        "/v1/robots/acme-r1/telemetry", params={"resolution": "1m", "metric": "battery.soc"}, headers=headers
    ).json()
    assert len(minutes["items"]) == 3 and minutes["items"][0]["metric"] == "battery.soc"
    assert {"std", "p05", "p50", "p95", "slope_per_s", "rate_hz", "anomaly"} <= set(minutes["items"][0])
    hours = client.get("/v1/robots/acme-r1/telemetry", params={"resolution": "1h"}, headers=headers).json()
    assert sum(row["n"] for row in hours["items"]) == 180
    as_csv = client.get("/v1/robots/acme-r1/telemetry", params={"format": "csv"}, headers=headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 30 and "components.main_brush.current_a" in rows[0]
    as_parquet = client.get("/v1/robots/acme-r1/telemetry", params={"format": "parquet"}, headers=headers)
    assert pq.read_table(io.BytesIO(as_parquet.content)).num_rows == 30


def test_bad_parameters_are_problems_naming_the_field(client: TestClient, world: World) -> None:
    headers = world.auth("acme", "viewer")
    answer = client.get(
        "/v1/robots/acme-r1/telemetry",
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        headers=headers,
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "query.end"
    answer = client.get("/v1/alerts", params={"sort": "message"}, headers=headers)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "query.sort"
    assert "-raised_at" in answer.json()["detail"]
    answer = client.get("/v1/alerts", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "query.cursor"
    answer = client.post(
        "/v1/sites", json={"site_id": "x", "name": "X", "colour": "red"}, headers=world.auth("acme", "admin")
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.colour"


def test_operators_register_robots_and_handle_alerts(client: TestClient, world: World) -> None:
    headers = world.auth("acme", "operator")
    created = client.post(
        "/v1/robots",
        json={
            "robot_id": "acme-r2",
            "manufacturer": "Avidbots",
            "model": "Neo",
            "serial": "n-1",
            "site_id": "acme-hq",
            "capabilities": ["scrub"],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    mqtt = created.json()["mqtt"]
    assert mqtt["username"] == "acme/acme-r2" and mqtt["topic_prefix"] == "fr/v1/acme/acme-r2/"
    again = client.post(
        "/v1/robots",
        json={"robot_id": "acme-r3", "manufacturer": "Avidbots", "model": "Neo", "serial": "n-1"},
        headers=headers,
    )
    assert again.status_code == 409 and "serial" in again.json()["detail"]
    alert_id = world.alert_ids["acme"]
    acked = client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=headers).json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"].startswith("key:")
    resolved = client.post(f"/v1/alerts/{alert_id}/resolve", headers=headers).json()
    assert resolved["state"] == "resolved"
    assert client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=headers).status_code == 409
    record = client.post(
        "/v1/maintenance",
        json={
            "robot_id": "acme-r2",
            "component": "main_brush",
            "kind": "replacement",
            "performed_at": "2026-11-01T08:00:00Z",
        },
        headers=headers,
    )
    assert record.status_code == 201, record.text


def test_admins_manage_keys_and_revocation_takes_effect(client: TestClient, world: World) -> None:
    admin = world.auth("acme", "admin")
    created = client.post("/v1/keys", json={"role": "viewer", "description": "dashboard"}, headers=admin).json()
    token, key_id = created["token"], created["key"]["key_id"]
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = client.get("/v1/keys", params={"role": "viewer"}, headers=admin).json()
    assert key_id in [k["key_id"] for k in listed["items"]] and "token" not in str(listed)
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 204
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    other = client.get("/v1/keys", headers=world.auth("globex", "admin")).json()
    assert key_id not in [k["key_id"] for k in other["items"]]
    assert client.delete(f"/v1/keys/{key_id}", headers=world.auth("globex", "admin")).status_code == 404


def test_planners_optimise_and_validate_schedules(client: TestClient, world: World) -> None:
    from tests.serve_apps.test_api_isolation import SCHEDULE

    planner = world.auth("acme", "planner")
    plan = client.post("/v1/schedules:optimize", json=SCHEDULE, headers=planner)
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["kpis"]["tasks_planned"] == 1
    assert body["itineraries"][0]["stops"][1]["arrival_s"] == 100  # 50 m at the default 0.5 m/s
    bad = {
        **SCHEDULE,
        "tasks": [{"id": "t1", "location": "roof", "duration_s": 60, "capability": "mop"}],
        "options": {"time_limit_s": 600},
    }
    refused = client.post("/v1/schedules:optimize", json=bad, headers=planner)
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {"body.tasks[0].location", "body.tasks[0].capability", "body.options.time_limit_s"} <= fields
    too_long = {**SCHEDULE, "options": {"time_limit_s": 1, "lower_bound_s": 10}}  # the platform allows 5 s in all
    refused = client.post("/v1/schedules:optimize", json=too_long, headers=planner)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.options.lower_bound_s"
    bounded = client.post(
        "/v1/schedules:optimize", json={**SCHEDULE, "options": {"time_limit_s": 1, "lower_bound_s": 1}}, headers=planner
    )
    assert bounded.status_code == 200 and bounded.json()["lower_bound"] <= bounded.json()["objective"] + 1e-6
    negative = {**SCHEDULE, "tasks": [{"id": "t1", "location": "hall", "duration_s": -1}]}
    assert client.post("/v1/schedules:optimize", json=negative, headers=planner).status_code == 422
    late = {
        **SCHEDULE,
        "tasks": [{"id": "t1", "location": "hall", "duration_s": 600, "window": {"start": 0, "end": 300}}],
    }
    checked = client.post("/v1/schedules:validate", json=late, headers=planner).json()
    assert checked["valid"] and checked["unservable"][0]["task_id"] == "t1"
    assert "window" in checked["unservable"][0]["reason"]
    assert client.post("/v1/schedules:optimize", json=SCHEDULE, headers=world.auth("acme", "viewer")).status_code == 403


def test_a_schedule_job_is_polled_until_its_plan_is_there(client: TestClient, world: World) -> None:
    from tests.helpers import wait_for
    from tests.serve_apps.test_api_isolation import SCHEDULE

    submitted = client.post("/v1/schedules/jobs", json=SCHEDULE, headers=world.auth("acme", "planner"))
    assert submitted.status_code == 202 and submitted.headers["location"] == submitted.json()["status_url"]
    url = submitted.json()["status_url"]

    def finished() -> dict | None:
        job = client.get(url, headers=world.auth("acme", "viewer")).json()
        return job if job["status"] in ("done", "failed") else None

    job = wait_for(finished, timeout_s=30)
    assert job["status"] == "done" and job["result"]["kpis"]["tasks_planned"] == 1
    assert client.get(url, headers=world.auth("globex", "admin")).status_code == 404


def test_a_fleet_wide_schedule_over_a_megabyte_is_a_job_planned_site_by_site(client: TestClient, world: World) -> None:
    from fleetray.sim.schedules import schedule_problem
    from tests.helpers import wait_for

    body = schedule_problem(20, 4000, seed=9, time_limit_s=4, sites=20).model_dump(mode="json", exclude_none=True)
    assert len(json.dumps(body)) > 1 << 20  # above the API's general body limit
    submitted = client.post("/v1/schedules/jobs", json=body, headers=world.auth("acme", "planner"))
    assert submitted.status_code == 202, submitted.text
    url = submitted.json()["status_url"]

    def finished() -> dict | None:
        job = client.get(url, headers=world.auth("acme", "viewer")).json()
        return job if job["status"] in ("done", "failed") else None

    job = wait_for(finished, timeout_s=120)
    assert job["status"] == "done" and job["result"]["solver"].startswith("20 parts: ")
    kpis = job["result"]["kpis"]
    assert kpis["tasks_planned"] > 0 and kpis["tasks_planned"] + kpis["tasks_dropped"] == 4000
