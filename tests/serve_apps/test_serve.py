"""The API on Ray Serve, over running shards: a device reports over HTTPS, the state is live, the WebSocket streams."""

from __future__ import annotations

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
    settings = load_settings(database_url=db.url, database_schema=db.schema, api_rate_limit="1000/second")
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_application(settings, shard_prefix=prefix), name="test-api", route_prefix="/")
    try:
        yield f"http://127.0.0.1:{port}", world
    finally:
        serve.delete("test-api")
        serve.shutdown()
        ingestion.stop()


def _telemetry(seq: int) -> dict[str, Any]:
    return {"tenant_id": "acme", "robot_id": "acme-r1", "ts": datetime.now(UTC).isoformat(), "seq": seq,
            "status": "cleaning", "pose": {"x": 1.0, "y": 2.0, "theta": 0.0}}  # fmt: skip


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

        with connect(url.replace("http", "ws") + "/v1/stream", open_timeout=30) as socket:
            socket.send(json.dumps({"type": "auth", "token": "fr_0123456789abcdef_" + "x" * 43}))
            assert json.loads(socket.recv(timeout=30))["type"] == "error"

        from tests.serve_apps.test_api_isolation import SCHEDULE

        plan = http.post("/v1/schedules:optimize", json=SCHEDULE, headers=world.auth("acme", "planner"))
        assert plan.status_code == 200 and plan.json()["kpis"]["tasks_planned"] == 1  # on the optimizer deployment

        metrics = http.get("/metrics").text
        assert 'route="/v1/device/telemetry",status="202"' in metrics


def test_serve_config_file_builds_the_application(db: Database) -> None:
    from serve_apps.api.deployment import app_builder

    config = yaml.safe_load((Path(__file__).parents[2] / "cluster" / "serve_config.yaml").read_text())
    application = config["applications"][0]
    assert application["import_path"] == "serve_apps.api.deployment:app_builder"
    built = app_builder({**application["args"], "database_url": db.url})
    assert type(built).__name__ == "Application"
