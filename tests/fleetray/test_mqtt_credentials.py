"""Robots' MQTT logins on a real Mosquitto: each robot publishes only under its own topic prefix."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from fleetray.cli.app import app
from fleetray.config import get_settings
from fleetray.errors import ServiceError
from fleetray.inventory import RobotRecord, TenantRecord
from fleetray.mqtt import connect
from fleetray.services.mqtt_broker import find_mosquitto
from fleetray.services.ports import free_port
from fleetray.services.process import ServiceProcess
from fleetray.storage import Database
from fleetray.storage.credentials import check_mosquitto_hash, issue_mqtt_credential, mosquitto_hash
from fleetray.storage.fleet import upsert_robots, upsert_tenant


def test_hashes_are_mosquittos_pbkdf2_format() -> None:
    stored = mosquitto_hash("s3cret", salt=b"0123456789ab")
    assert stored.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert check_mosquitto_hash("s3cret", stored) and not check_mosquitto_hash("guess", stored)


@pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")
def test_a_robot_publishes_only_under_its_own_prefix(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
        upsert_robots(
            conn,
            [
                RobotRecord(tenant_id="acme", robot_id=r, manufacturer="Gausium", model="Phantas", serial=r)
                for r in ("r1", "r2")
            ],
        )
        robot = issue_mqtt_credential(conn, "acme", "r1")
    monkeypatch.setenv("FLEETRAY_DATABASE_URL", db.url)
    monkeypatch.setenv("FLEETRAY_DATABASE_SCHEMA", db.schema)
    monkeypatch.setenv("FLEETRAY_MQTT_PLATFORM_PASSWORD", "platform-pw")
    get_settings.cache_clear()
    written = CliRunner().invoke(app, ["mqtt", "auth-files", str(tmp_path / "auth")], catch_exceptions=False)
    assert written.exit_code == 0, written.output
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    # `user root`: started as root, Mosquitto would switch to its own user, who cannot read pytest's tmp dir.
    auth = tmp_path / "auth"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\nuser root\n"
        f"password_file {auth / 'passwd'}\nacl_file {auth / 'acl'}\n"
    )
    broker = ServiceProcess(
        "mosquitto", [str(find_mosquitto()), "-c", str(config)], port=port, log_path=tmp_path / "mosquitto.log"
    )
    broker.start()
    try:
        received: queue.Queue[str] = queue.Queue()
        subscribed = threading.Event()
        platform = connect(
            f"mqtt://fleetray:platform-pw@127.0.0.1:{port}",
            "platform",
            on_message=lambda _c, _u, m: received.put(m.topic),
        )
        platform.on_subscribe = lambda *_: subscribed.set()
        platform.subscribe("fr/v1/#", qos=1)
        assert subscribed.wait(10)
        device = connect(f"mqtt://{quote(robot.username, safe='')}:{robot.password}@127.0.0.1:{port}", "acme-r1")
        for target in ("acme/r2", "globex/r1", "acme/r1"):  # only the last is its own
            device.publish(f"fr/v1/{target}/telemetry", b"{}", qos=1).wait_for_publish(10)
        assert received.get(timeout=10) == f"{robot.topic_prefix}telemetry"
        time.sleep(0.5)
        assert received.empty()
        device.disconnect()
        with pytest.raises(ServiceError):
            connect(f"mqtt://{quote(robot.username, safe='')}:wrong@127.0.0.1:{port}", "acme-r1-guess", timeout_s=5)
        platform.disconnect()
    finally:
        broker.stop()
