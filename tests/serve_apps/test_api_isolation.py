"""Tenant isolation and auth on every route, enumerated from the OpenAPI document.

A new route fails these tests until it is listed below: with the path values and body that point
at the other tenant's objects, or as public (verified some other way).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serve_apps.conftest import World

# Routes that carry no API key: manufacturer clouds sign their webhooks instead (tested in test_connectors),
# and bag parts go to signed upload URLs (tested in test_bag_uploads).
PUBLIC = {
    ("POST", "/v1/connectors/{connector}/webhooks/{tenant_id}"),
    ("PUT", "/v1/uploads/{upload_id}/parts/{number}"),
    ("GET", "/v1/downloads"),
}
# A schedule request is self-contained: it names no stored object, so it has no other tenant's objects to reach.
SCHEDULE = {
    "locations": [{"id": "dock", "x": 0, "y": 0}, {"id": "hall", "x": 30, "y": 40}],
    "robots": [{"id": "r1", "start_location": "dock"}],
    "tasks": [{"id": "t1", "location": "hall", "duration_s": 600}],
    "options": {"time_limit_s": 0.2},
}
SCHEDULE_PLAN = {
    "status": "feasible",
    "solver": "test",
    "objective": 0,
    "solve_time_s": 0,
    "dropped": [],
    "itineraries": [
        {
            "robot_id": "r1",
            "distance_m": 100,
            "travel_s": 200,
            "work_s": 600,
            "stops": [
                {"kind": "start", "location": "dock", "arrival_s": 0, "start_s": 0, "end_s": 0},
                {"kind": "task", "location": "hall", "task_id": "t1", "arrival_s": 100, "start_s": 100, "end_s": 700},
                {"kind": "end", "location": "dock", "arrival_s": 800, "start_s": 800, "end_s": 800},
            ],
        }
    ],
    "kpis": {
        "tasks_planned": 1,
        "tasks_dropped": 0,
        "robots_used": 1,
        "distance_m": 100,
        "travel_s": 200,
        "makespan_s": 800,
    },
}
REOPTIMIZE = {
    "request": SCHEDULE,
    "previous": SCHEDULE_PLAN,
    "event": {"type": "tasks_added", "at_s": 300, "tasks": [{"id": "t2", "location": "dock", "duration_s": 60}]},
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Routes whose path names a value every tenant may have, not a stored object (an error code, a week, a
# manufacturer's connector): checked as listings are, acting on and answering with the caller's own data only.
TENANT_WIDE = {
    ("GET", "/v1/diagnostics/{error_code}"),
    ("GET", "/v1/reports/weekly/{week}"),
    ("PUT", "/v1/connectors/{connector}"),
    ("DELETE", "/v1/connectors/{connector}"),
}


def _sample(tenant: str, robot: str) -> dict[str, Any]:
    return {"tenant_id": tenant, "robot_id": robot, "ts": datetime.now(UTC).isoformat(), "seq": 1000, "status": "idle"}


def acme_path_values(world: World) -> dict[str, str]:
    """Path parameters naming acme's objects."""
    return {
        "robot_id": "acme-r1",
        "site_id": "acme-hq",
        "alert_id": str(world.alert_ids["acme"]),
        "task_id": "acme-t1",
        "key_id": world.key_id("acme", "viewer"),
        "subscription_id": str(world.subscription_ids["acme"]),
        "job_id": world.job_ids["acme"],
        "upload_id": world.upload_ids["acme"],
        "model_id": str(world.model_ids["acme"]),
        "error_code": "E_BRUSH_JAM",
        "bag_id": str(world.bag_ids["acme"]),
        "command_id": world.command_ids["acme"],
        "version": "1.0.0",
        "week": "2026-W47",
        "connector": "nimbus",
    }


def missing_path_values() -> dict[str, str]:
    """Path parameters naming nothing at all."""
    return {
        "robot_id": "nobody",
        "site_id": "nowhere",
        "alert_id": "999999",
        "task_id": "no-task",
        "key_id": "0123456789abcdef",
        "subscription_id": "999999",
        "job_id": "job_0123456789abcdef",
        "upload_id": "no-such-upload",
        "model_id": "999999",
        "error_code": "E_NEVER_SEEN",
        "bag_id": "999999",
        "command_id": "cmd_0123456789abcdef",
        "version": "9.9.9",
        "week": "2026-W47",
        "connector": "nimbus",
    }


def bodies(tenant_of_objects: str) -> dict[tuple[str, str], dict[str, Any] | list[Any] | None]:
    """A request body per write route, naming objects of ``tenant_of_objects`` where the body names any."""
    t = tenant_of_objects
    return {
        ("POST", "/v1/sites"): {"site_id": "new-site", "name": "New"},
        ("POST", "/v1/robots"): {
            "robot_id": "new-robot",
            "manufacturer": "Avidbots",
            "model": "Neo",
            "serial": "new-serial",
            "site_id": f"{t}-hq",
        },
        ("POST", "/v1/robots/{robot_id}/mqtt-credential"): None,
        ("POST", "/v1/keys"): {"role": "device", "robot_id": f"{t}-r1"},
        ("DELETE", "/v1/keys/{key_id}"): None,
        ("POST", "/v1/alerts/{alert_id}/acknowledge"): None,
        ("POST", "/v1/alerts/{alert_id}/resolve"): None,
        ("POST", "/v1/maintenance"): {
            "robot_id": f"{t}-r1",
            "component": "main_brush",
            "kind": "repair",
            "performed_at": "2026-11-01T00:00:00Z",
        },
        ("POST", "/v1/webhooks"): {"url": "https://hooks.example.com/x"},
        ("DELETE", "/v1/webhooks/{subscription_id}"): None,
        ("POST", "/v1/device/telemetry"): _sample(t, f"{t}-r1"),
        ("POST", "/v1/device/events"): {**_sample(t, f"{t}-r1"), "level": "INFO", "code": "HELLO"},
        ("POST", "/v1/device/tasks"): {**_sample(t, f"{t}-r1"), "task_id": "t", "type": "started"},
        ("POST", "/v1/schedules:optimize"): SCHEDULE,
        ("POST", "/v1/schedules:validate"): SCHEDULE,
        ("POST", "/v1/schedules:reoptimize"): REOPTIMIZE,
        ("POST", "/v1/schedules/jobs"): SCHEDULE,
        ("POST", "/v1/device/bags"): {"name": "run.mcap", "size_bytes": 1000},
        ("POST", "/v1/device/bags/{upload_id}/complete"): None,
        ("DELETE", "/v1/device/bags/{upload_id}"): None,
        ("POST", "/v1/models/{model_id}:promote"): {"stage": "staging"},
        ("POST", "/v1/models/{model_id}:rollback"): None,
        ("POST", "/v1/robots/{robot_id}/commands"): {"type": "record", "args": {"minutes": 1}},
        ("PUT", "/v1/robots/{robot_id}/config"): {"heartbeat_s": 20},
        ("POST", "/v1/agent/releases"): {
            "version": "2.0.0",
            "filename": "fleetray-2.0.0-py3-none-any.whl",
            "signature": "0" * 128,
            "wheel": "d2hlZWw=",
        },
        ("POST", "/v1/agent/releases/{version}:rollout"): {"share": 1.0},
        ("PUT", "/v1/alert-rules"): {"overrides": {"offline_after_s": 300}},
        ("DELETE", "/v1/alert-rules"): None,
        ("PUT", "/v1/connectors/{connector}"): {"base_url": "https://api.nimbus.example", "api_token": "t0ken"},
        ("DELETE", "/v1/connectors/{connector}"): None,
    }


def operations(client: TestClient) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


def _request(
    client: TestClient, method: str, path: str, values: dict[str, str], body: Any, headers: dict[str, str]
) -> Any:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{path}: a path parameter with no value in the isolation test; add it"
    return client.request(method, path, headers=headers, json=body)


def _caller(world: World, tenant: str, path: str) -> dict[str, str]:
    return world.auth(tenant, "device" if path.startswith("/v1/device") else "admin")


def test_every_route_hides_the_other_tenants_objects(client: TestClient, world: World) -> None:
    acme_bodies, globex_bodies = bodies("acme"), bodies("globex")
    checked = 0
    for method, path in operations(client):
        if (method, path) in PUBLIC:
            continue
        assert method not in WRITE_METHODS or (method, path) in acme_bodies, (
            f"{method} {path} is not in the isolation test: give it a body that names the other tenant's objects"
        )
        names_objects = (method, path) not in TENANT_WIDE and (
            "{" in path or ((method, path) in acme_bodies and "acme" in str(acme_bodies[(method, path)]))
        )
        answer = _request(
            client,
            method,
            path,
            acme_path_values(world),
            acme_bodies.get((method, path)),
            _caller(world, "globex", path),
        )
        assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text}"
        if names_objects:
            assert 400 <= answer.status_code < 500, f"{method} {path} let globex reach acme: {answer.text}"
            if "{" in path:
                missing = _request(
                    client,
                    method,
                    path,
                    missing_path_values(),
                    globex_bodies.get((method, path)),
                    _caller(world, "globex", path),
                )
                assert (answer.status_code, answer.json()["title"]) == (missing.status_code, missing.json()["title"]), (
                    f"{method} {path}: another tenant's object answers unlike a missing one"
                )
                own = _request(
                    client,
                    method,
                    path,
                    acme_path_values(world),
                    acme_bodies.get((method, path)),
                    _caller(world, "acme", path),
                )
                assert own.status_code < 300 or own.status_code == 409, f"{method} {path} (own): {own.text}"
        else:
            refusable = (method, path) in TENANT_WIDE and answer.status_code == 409  # too little data of its own
            assert answer.status_code < 300 or refusable, f"{method} {path}: {answer.status_code} {answer.text}"
            assert "acme" not in answer.text, f"{method} {path} shows acme's data to globex: {answer.text}"
        checked += 1
    assert checked >= 25


def test_auth_failures_are_401_or_403_and_reveal_nothing(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acme = acme_path_values(world)
    for method, path in operations(client):
        if (method, path) in PUBLIC:
            continue
        body = bodies("acme").get((method, path))
        no_key = _request(client, method, path, acme, body, {})
        wrong = _request(
            client,
            method,
            path,
            missing_path_values(),
            body,
            {"Authorization": "Bearer fr_0123456789abcdef_" + "x" * 43},
        )
        for answer in (no_key, wrong):
            assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["detail"] == no_key.json()["detail"]
        device_only = path.startswith("/v1/device")
        wrong_role = world.auth("acme", "admin" if device_only else "device")
        assert _request(client, method, path, acme, body, wrong_role).status_code == 403, f"{method} {path}"
        if method in WRITE_METHODS and not device_only:
            for role in ("viewer",) if path.startswith("/v1/schedules") else ("viewer", "planner"):
                refused = _request(client, method, path, acme, body, world.auth("acme", role))
                assert refused.status_code == 403, f"{role} may {method} {path}"
                assert "role" in refused.json()["detail"]
    for token in world.tokens.values():
        assert token not in caplog.text and token.split("_", 2)[2] not in caplog.text


def test_rate_limit_answers_429_with_retry_after(api_context: Any, world: World) -> None:
    from serve_apps.api.app import create_app
    from serve_apps.api.ratelimit import KeyRateLimiter

    api_context.limiter = KeyRateLimiter("3/minute")
    with TestClient(create_app(api_context)) as client:
        answers = [client.get("/v1/me", headers=world.auth("acme", "viewer")) for _ in range(4)]
        other = client.get("/v1/me", headers=world.auth("acme", "admin"))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert other.status_code == 200


def test_oversized_bodies_are_refused_and_metrics_count_requests(client: TestClient, world: World) -> None:
    big = {"site_id": "big", "name": "x", "metadata": {"blob": "x" * (2 << 20)}}
    refused = client.post("/v1/sites", json=big, headers=world.auth("acme", "admin"))
    assert refused.status_code == 413 and refused.headers["content-type"] == "application/problem+json"
    client.get("/v1/robots", headers=world.auth("acme", "viewer"))
    metrics = client.get("/metrics").text
    assert 'fleetray_api_requests_total{method="GET",route="/v1/robots",status="200"}' in metrics
    assert 'status="413"' in metrics


def test_a_query_outliving_the_timeout_answers_504(db: object, world: World) -> None:
    from fleetray.config import load_settings
    from serve_apps.api.app import create_app
    from serve_apps.api.context import ApiContext

    settings = load_settings(database_url=db.url, database_schema=db.schema, api_request_timeout_s=0.05)
    context = ApiContext(settings, db)
    try:
        with context.connection() as conn, conn.cursor() as cur:  # a held lock makes the read wait
            cur.execute("BEGIN; LOCK TABLE robots IN ACCESS EXCLUSIVE MODE")
            with TestClient(create_app(context)) as client:
                answer = client.get("/v1/robots", headers=world.auth("acme", "viewer"))
            cur.execute("ROLLBACK")
    finally:
        context.close()
    assert answer.status_code == 504 and answer.headers["content-type"] == "application/problem+json"
