"""Reaching robots' agents through the API: commands and their outcome, remote config, heartbeats, releases."""

from __future__ import annotations

import base64
import hashlib
import queue
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from fleetray.mqtt import connect
from fleetray.schemas import AgentCommand, CommandAck, RemoteConfig
from fleetray.schemas.agent import AgentUpdate
from fleetray.storage import Database
from fleetray.storage.agents import record_acks
from serve_apps.api.context import ApiContext
from tests.helpers import wait_for
from tests.serve_apps.conftest import World


class RobotInbox:
    """What acme-r1's agent would receive on its down topics."""

    def __init__(self, url: str) -> None:
        self.received: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        subscribed = threading.Event()
        self.client = connect(
            url, f"robot-{id(self)}", on_message=lambda _c, _u, m: self.received.put((m.topic, m.payload, m.retain))
        )
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe("fr/v1/acme/acme-r1/#", qos=1)
        assert subscribed.wait(10)

    def next(self, channel: str) -> tuple[str, bytes, bool]:
        """The next message on one down channel (the broker is shared: a config other tests left may come first)."""
        while True:
            topic, payload, retained = self.received.get(timeout=10)
            if topic.endswith(f"/{channel}"):
                return topic, payload, retained

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_command_goes_to_the_robot_and_its_acks_come_back(
    client: TestClient, world: World, db: Database, mqtt_url: str
) -> None:
    inbox = RobotInbox(mqtt_url)
    operator = world.auth("acme", "operator")
    try:
        sent = client.post(
            "/v1/robots/acme-r1/commands", headers=operator, json={"type": "record", "args": {"until_task_end": True}}
        )
        assert sent.status_code == 202 and sent.json()["status"] == "sent"
        topic, payload, _ = inbox.next("cmd")
        command = AgentCommand.model_validate_json(payload)
        assert topic == "fr/v1/acme/acme-r1/cmd" and command.command_id == sent.json()["command_id"]
    finally:
        inbox.close()
    ack = {"tenant_id": "acme", "robot_id": "acme-r1", "ts": "2026-12-01T00:00:00Z", "command_id": command.command_id}
    with db.connect() as conn:
        record_acks(
            conn,
            [CommandAck(**ack, status="succeeded", result={"trigger_id": "t1"}), CommandAck(**ack, status="accepted")],
        )  # a late "accepted" changes nothing
    done = client.get(f"/v1/robots/acme-r1/commands/{command.command_id}", headers=world.auth("acme", "viewer"))
    assert done.json()["status"] == "succeeded" and done.json()["result"] == {"trigger_id": "t1"}
    bad = client.post("/v1/robots/acme-r1/commands", headers=operator, json={"type": "record", "args": {"minutes": 0}})
    assert bad.status_code == 422 and "record needs args" in bad.json()["detail"]
    assert client.post("/v1/robots/nobody/commands", headers=operator, json={"type": "restart"}).status_code == 404


def test_a_config_is_versioned_published_retained_and_checked(client: TestClient, world: World, mqtt_url: str) -> None:
    operator = world.auth("acme", "operator")
    put = client.put(
        "/v1/robots/acme-r1/config", headers=operator, json={"heartbeat_s": 15, "recorder": {"before_s": 60}}
    )
    assert put.status_code == 200 and put.json()["version"] == 2  # the seed's was 1
    assert put.json()["applied_version"] == 0  # the agent reported none yet
    inbox = RobotInbox(mqtt_url)  # a robot connecting later gets the retained config at once
    try:
        topic, payload, retained = inbox.next("config")
    finally:
        inbox.close()
    config = RemoteConfig.model_validate_json(payload)
    assert (topic, retained, config.version, config.recorder.before_s) == ("fr/v1/acme/acme-r1/config", True, 2, 60)
    bad = client.put("/v1/robots/acme-r1/config", headers=operator, json={"heartbeat_s": 0, "nonsense": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.heartbeat_s", "body.nonsense"}
    assert client.get("/v1/robots/acme-r1/config", headers=operator).json()["version"] == 2


def test_the_agent_s_last_heartbeat(client: TestClient, world: World) -> None:
    beat = client.get("/v1/robots/acme-r1/agent", headers=world.auth("acme", "viewer"))
    assert beat.status_code == 200 and beat.json()["heartbeat"]["agent_version"] == "0.1.0"


def test_a_release_is_published_once_and_rolled_out(client: TestClient, world: World, mqtt_url: str) -> None:
    wheel = b"PK not really a wheel"
    body = {
        "version": "2.0.0",
        "filename": "fleetray-2.0.0-py3-none-any.whl",
        "signature": "ab" * 64,
        "wheel": base64.b64encode(wheel).decode(),
    }
    admin, operator = world.auth("acme", "admin"), world.auth("acme", "operator")
    published = client.post("/v1/agent/releases", headers=admin, json=body)
    assert published.status_code == 201 and published.json()["sha256"] == hashlib.sha256(wheel).hexdigest()
    again = client.post("/v1/agent/releases", headers=admin, json=body)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    listed = client.get("/v1/agent/releases", headers=operator).json()["items"]
    assert [r["version"] for r in listed] == ["2.0.0", "1.0.0"]
    inbox = RobotInbox(mqtt_url)
    try:
        rollout = client.post(
            "/v1/agent/releases/2.0.0:rollout", headers=operator, json={"robot_ids": ["acme-r1"], "deadline_s": 300}
        )
        assert rollout.status_code == 202, rollout.text
        payloads: list[Any] = []
        while not any(b'"update"' in p for p in payloads):
            payloads.append(inbox.next("cmd")[1])
    finally:
        inbox.close()
    command = AgentCommand.model_validate_json(next(p for p in payloads if b'"update"' in p))
    assert rollout.json()["commands"] == {"acme-r1": command.command_id}
    update = AgentUpdate.model_validate(command.args)
    assert (update.version, update.sha256, update.deadline_s) == ("2.0.0", hashlib.sha256(wheel).hexdigest(), 300)
    url = urlsplit(update.url)
    assert client.get(f"{url.path}?{url.query}").content == wheel  # the robot downloads it without a key
    missing = client.post("/v1/agent/releases/2.0.0:rollout", headers=operator, json={"robot_ids": ["nobody"]})
    assert missing.status_code == 404


@pytest.mark.slow
def test_an_agent_without_mqtt_reports_through_the_https_device_routes(
    live_api_context: ApiContext, world: World, db: Database, tmp_path: Path
) -> None:
    import uvicorn

    from edge.agent import Agent
    from edge.config import parse_config
    from edge.synthetic import DEFAULT_CONFIG_TOPICS, write_robot_bag
    from fleetray.services.ports import free_port, wait_for_port
    from serve_apps.api.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(live_api_context), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for_port("127.0.0.1", port, timeout_s=20)
    bag = tmp_path / "robot.bag"
    write_robot_bag(bag, duration_s=60, error_at_s=30)
    key_file = tmp_path / "device.key"
    key_file.write_text(world.tokens[("acme", "device")])
    config = parse_config(
        {
            "tenant_id": "acme",
            "robot_id": "acme-r1",
            "data_dir": str(tmp_path / "agent"),
            "transport": "https",
            "broker": {"url": "mqtt://127.0.0.1:1"},
            "api": {"url": f"http://127.0.0.1:{port}", "device_key_file": str(key_file)},
            "topics": DEFAULT_CONFIG_TOPICS,
            "sources": [{"kind": "bag", "path": str(bag), "rate": 1000.0}],
            "remote": {"version": 1, "batch_max_delay_s": 0.5},
        }
    )
    agent = Agent(config)
    agent.start()
    try:

        def stored() -> tuple[int, int, int]:
            with db.connect() as conn:
                return conn.execute(
                    "SELECT count(*), min(seq), max(seq) FROM telemetry WHERE robot_id = 'acme-r1' AND seq > 1000000"
                ).fetchone()

        wait_for(lambda: agent.sources_done() and agent.spool.stats().messages == 0 and stored()[0] >= 55, timeout_s=60)
        count, low, high = stored()
        assert count == high - low + 1
        with db.connect() as conn:
            codes = [r[0] for r in conn.execute("SELECT code FROM events WHERE robot_id = 'acme-r1' AND seq > 1000000")]
        assert codes == ["E_BRUSH_JAM"]
    finally:
        agent.stop()
        server.should_exit = True
        thread.join(timeout=10)
