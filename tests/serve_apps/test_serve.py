"""The API on Ray Serve, over running shards: a device reports over HTTPS, the state is live, the WebSocket streams.

Serve runs as the platform runs it, behind HAProxy (tests/conftest.py sets the ingress before Ray starts), so
these tests also prove that what the API does for itself holds through that ingress.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.sync.client import connect

from fleetray.config import load_settings
from fleetray.services.ports import free_port
from fleetray.sim.schedules import schedule_problem
from fleetray.storage import Database
from tests.serve_apps.conftest import World, seed

pytestmark = pytest.mark.slow


@pytest.fixture
def served(db: Database, ray_session: None) -> Iterator[tuple[str, World]]:
    from ray import serve

    from actors.ingestion import start_ingestion
    from serve_apps.api.deployment import build_application

    world = seed(db)
    prefix = f"serve-{uuid.uuid4().hex[:8]}"
    ingestion = start_ingestion(db, shards=1, prefix=prefix)
    port = free_port()
    limits = {"api_rate_limit": "1000/second;60/minute", "api_request_timeout_s": 2.0}
    settings = load_settings(database_url=db.url, database_schema=db.schema, **limits)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_application(settings, shard_prefix=prefix), name="test-api", route_prefix="/")
    try:
        yield f"http://127.0.0.1:{port}", world
    finally:
        serve.delete("test-api")
        serve.shutdown()
        ingestion.stop()


def _telemetry(seq: int) -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "robot_id": "acme-r1",
        "ts": datetime.now(UTC).isoformat(),
        "seq": seq,
        "status": "cleaning",
        "pose": {"x": 1.0, "y": 2.0, "theta": 0.0},
    }


def test_serve_application_end_to_end(served: tuple[str, World]) -> None:
    url, world = served
    device, viewer = world.auth("acme", "device"), world.auth("acme", "viewer")
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/openapi.json").json()["info"]["title"] == "fleetray"
        assert http.get("/docs").status_code == 200
        batch = [_telemetry(100), _telemetry(101)]
        accepted = http.post("/v1/device/telemetry", json=batch, headers=device)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["telemetry"] == 2
        again = http.post("/v1/device/telemetry", json=batch[1], headers=device).json()  # a resend
        assert again["duplicates"] == 1 and again["telemetry"] == 0, again
        state = http.get("/v1/robots/acme-r1/state", headers=viewer).json()
        assert state["source"] == "live" and state["seq"] == 101
        foreign = http.post("/v1/device/telemetry", json={**_telemetry(5), "robot_id": "acme-r2"}, headers=device)
        assert foreign.status_code == 403

        with connect(url.replace("http", "ws") + "/v1/stream", open_timeout=30) as socket:
            socket.send(json.dumps({"type": "auth", "token": world.tokens[("acme", "viewer")]}))
            assert json.loads(socket.recv(timeout=30))["type"] == "welcome"
            socket.send(json.dumps({"type": "subscribe", "kinds": ["state"], "robots": ["acme-r1"]}))
            assert json.loads(socket.recv(timeout=30))["type"] == "subscribed"
            update = None
            seq = 200
            deadline = time.monotonic() + 60
            while update is None and time.monotonic() < deadline:  # shards learn who is watched on their tick
                http.post("/v1/device/telemetry", json=_telemetry(seq), headers=device)
                seq += 1
                try:
                    frame = json.loads(socket.recv(timeout=2))
                except TimeoutError:
                    continue
                if frame["type"] == "state":
                    update = frame
            assert update is not None and update["robot_id"] == "acme-r1" and update["tenant_id"] == "acme"

            socket.send(json.dumps({"type": "subscribe", "kinds": ["state"], "batch": True}))  # a poll a frame
            assert json.loads(socket.recv(timeout=30))["subscription"]["batch"] is True
            grouped = None
            deadline = time.monotonic() + 60
            while grouped is None and time.monotonic() < deadline:
                http.post("/v1/device/telemetry", json=_telemetry(seq), headers=device)
                seq += 1
                with contextlib.suppress(TimeoutError):
                    frame = json.loads(socket.recv(timeout=2))
                    grouped = frame if frame["type"] == "batch" else None
            assert grouped is not None and [i["type"] for i in grouped["items"]] == ["state"]
            assert grouped["items"][0]["robot_id"] == "acme-r1"

        with connect(url.replace("http", "ws") + "/v1/stream", open_timeout=30) as socket:
            socket.send(json.dumps({"type": "auth", "token": "fr_0123456789abcdef_" + "x" * 43}))
            assert json.loads(socket.recv(timeout=30))["type"] == "error"

        from tests.serve_apps.test_api_isolation import SCHEDULE

        plan = http.post("/v1/schedules:optimize", json=SCHEDULE, headers=world.auth("acme", "planner"))
        assert plan.status_code == 200 and plan.json()["kpis"]["tasks_planned"] == 1  # on the optimizer deployment
        sites = schedule_problem(4, 24, seed=3, time_limit_s=3, sites=2).model_dump(mode="json", exclude_none=True)
        plan = http.post("/v1/schedules:optimize", json=sites, headers=world.auth("acme", "planner"))
        assert plan.status_code == 200 and plan.json()["solver"].startswith("2 parts: ")  # site by site, on Ray

        metrics = http.get("/metrics").text
        assert 'route="/v1/device/telemetry",status="202"' in metrics


def test_serve_config_file_builds_the_application(db: Database) -> None:
    from serve_apps.api.deployment import app_builder

    config = yaml.safe_load((Path(__file__).parents[2] / "cluster" / "serve_config.yaml").read_text())
    application = config["applications"][0]
    assert application["import_path"] == "serve_apps.api.deployment:app_builder"
    built = app_builder({**application["args"], "database_url": db.url})
    assert type(built).__name__ == "Application"


def _access_lines(path: str) -> list[dict[str, Any]]:
    """The API's access log lines for ``path``, from the replicas' logs in Ray's session folder."""
    import ray

    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    lines = []
    for log in logs.rglob("*"):
        if log.is_file() and log.suffix in (".log", ".err", ".out"):
            for line in log.read_text(errors="replace").splitlines():
                start = line.find('{"method"')
                if start >= 0 and f'"path": "{path}"' in line:
                    lines.append(json.loads(line[start:]))
    return lines


def test_the_api_protects_itself_behind_haproxy(served: tuple[str, World], db: Database, tmp_path: Path) -> None:
    import os

    from fleetray.sim.bags import BagSpec, write_bag
    from fleetray.sim.vendor_cloud import WEBHOOK_SIGNATURE_HEADER, VendorCloud, VendorCloudConfig
    from fleetray.storage.connectors import add_account
    from fleetray.webhook_signing import sign
    from tests.serve_apps.test_bag_uploads import upload

    assert os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    url, world = served
    viewer, admin = world.auth("acme", "viewer"), world.auth("acme", "admin")
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok", ready.text

        big = {"site_id": "big", "name": "x", "metadata": {"blob": "x" * (2 << 20)}}
        refused = http.post("/v1/sites", json=big, headers=admin)
        assert refused.status_code == 413 and refused.headers["content-type"] == "application/problem+json"

        flood = [http.get("/v1/me", headers=viewer) for _ in range(70)]
        limited = [answer for answer in flood if answer.status_code == 429]
        assert limited and 1 <= int(limited[0].headers["retry-after"]) <= 60
        assert http.get("/v1/me", headers=admin).status_code == 200  # limits are per key

        with db.connect() as conn:  # a held lock makes the read outlive the 2 s request timeout
            conn.execute("LOCK TABLE robots IN ACCESS EXCLUSIVE MODE")
            slow = http.get("/v1/robots", headers=world.auth("acme", "operator"))
            conn.rollback()
        assert slow.status_code == 504 and "longer than 2 s" in slow.json()["detail"]

        with db.connect() as conn:
            account = add_account(conn, "acme", "nimbus", base_url="http://127.0.0.1:9", api_token="unused")
        hooks = "/v1/connectors/nimbus/webhooks/acme"
        with VendorCloud(VendorCloudConfig(robots=2, tick_s=60)) as cloud:
            for _ in range(20):
                cloud.advance()
            assert cloud.push_webhooks(url + hooks, account["webhook_secret"]) > 0
        forged = http.post(hooks, content=b"{}", headers={WEBHOOK_SIGNATURE_HEADER: sign("guess", b"{}")})
        assert forged.status_code == 401

        bag = write_bag(tmp_path / "run.mcap", "mcap", BagSpec(duration_s=5))
        device = world.auth("acme", "device")
        started = upload(http, device, bag, "run.mcap", trigger="manual")
        done = http.post(f"/v1/device/bags/{started['upload_id']}/complete", headers=device)
        assert done.status_code == 202 and done.json()["size_bytes"] == bag.stat().st_size

    deadline = time.monotonic() + 30
    while len(lines := _access_lines("/v1/me")) < len(flood) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert {line["status"] for line in lines} == {200, 429}
    assert {line["key_id"] for line in lines} == {world.key_id("acme", "viewer"), world.key_id("acme", "admin")}
    assert [line["status"] for line in _access_lines("/v1/sites")] == [413]
    assert not any(token in json.dumps(lines) for token in world.tokens.values())
