"""Robot to platform: an agent replaying a bag into `fleetray up`, through a broker outage and a SIGKILL.

Every sample the agent queued is stored exactly once; the ERROR in the bag becomes a recording that is
uploaded through presigned URLs, decoded by the bag pipeline and found through ``GET /v1/bags``, with the
messages from five minutes before the error; operators reach the agent through the API.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import tomli_w

from edge.synthetic import DEFAULT_CONFIG_TOPICS, write_robot_bag
from fleetray.config import load_settings
from fleetray.inventory import RobotRecord, TenantRecord
from fleetray.services import Platform
from fleetray.services.mqtt_broker import find_mosquitto
from fleetray.services.ports import free_port
from fleetray.storage import Database
from fleetray.storage.api_keys import create_key
from fleetray.storage.fleet import upsert_robots, upsert_tenant
from tests.edge.conftest import Mosquitto
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")]
NS = 1_000_000_000
BAG_S, ERROR_AT_S = 400, 340


def _run_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _agent_config(path: Path, data_dir: Path, broker: str, api: str, key_file: Path, bag: Path | None) -> Path:
    document = {
        "tenant_id": "acme",
        "robot_id": "acme-r1",
        "data_dir": str(data_dir),
        "transport": "mqtt",
        "broker": {"url": broker},
        "api": {"url": api, "device_key_file": str(key_file)},
        "topics": DEFAULT_CONFIG_TOPICS,
        "sources": [{"kind": "bag", "path": str(bag), "rate": 50.0}] if bag else [],
        "remote": {
            "version": 1,
            "heartbeat_s": 2,
            "batch_max_delay_s": 1,
            "upload_kbit_s": 500_000,
            "upload_kbit_s_working": 500_000,
            "recorder": {"before_s": 300, "after_s": 20},
        },
    }
    path.write_text(tomli_w.dumps(document))
    return path


def test_a_robot_through_an_outage_and_a_kill(db: Database, tmp_path: Path, ray_session: None) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    port = free_port()
    settings = load_settings(
        database_url=db.url,
        database_schema=db.schema,
        mqtt_url=broker.url,
        shards=1,
        api_port=port,
        api_base_url=f"http://127.0.0.1:{port}",
        bag_scan_s=3600,
    )
    api = f"http://127.0.0.1:{port}"
    bag = tmp_path / "robot.bag"
    write_robot_bag(bag, duration_s=BAG_S, error_at_s=ERROR_AT_S, camera_bytes=2000)
    agent: subprocess.Popen[bytes] | None = None
    try:
        with Platform(settings) as _platform:
            with db.connect() as conn:
                upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
                upsert_robots(
                    conn,
                    [
                        RobotRecord(
                            tenant_id="acme", robot_id="acme-r1", manufacturer="Gausium", model="Phantas", serial="r1"
                        )
                    ],
                )
                device = create_key(conn, "acme", "device", robot_id="acme-r1").token
                operator = {"Authorization": f"Bearer {create_key(conn, 'acme', 'operator').token}"}
            key_file = tmp_path / "device.key"
            key_file.write_text(device)
            data_dir, log = tmp_path / "agent", tmp_path / "agent.log"
            replaying = _agent_config(tmp_path / "agent.toml", data_dir, broker.url, api, key_file, bag)
            agent = _run_agent(replaying, log)

            def stored() -> tuple[int, int, int]:
                with db.connect() as conn:
                    return conn.execute(
                        "SELECT count(*), min(seq), max(seq) FROM telemetry WHERE robot_id = 'acme-r1'"
                    ).fetchone()

            wait_for(lambda: stored()[0], timeout_s=60)  # connected and delivering
            broker.stop()  # the outage: the agent keeps recording and queuing
            wait_for(lambda: _status(data_dir).get("sources") == {"bag:robot.bag": "ended"}, timeout_s=180)
            wait_for(lambda: _queue_settled(data_dir), timeout_s=30)  # the pipeline's last samples are queued
            os.killpg(agent.pid, signal.SIGKILL)  # killed mid-outage
            agent.wait()
            next_seq = _next_telemetry_seq(data_dir)
            broker.start()
            draining = _agent_config(tmp_path / "drain.toml", data_dir, broker.url, api, key_file, None)
            agent = _run_agent(draining, log)
            try:
                wait_for(lambda: stored()[2] == next_seq - 1, timeout_s=120)  # the last sample queued arrived
            except AssertionError as timed_out:
                with db.connect() as conn:
                    dead = conn.execute("SELECT reason, detail FROM dead_letters LIMIT 3").fetchall()
                missing = f"the last sample queued, {next_seq - 1}, was not stored; dead letters: {dead}"
                raise AssertionError(missing) from timed_out
            count, low, high = stored()
            assert count == high - low + 1, f"a sample is missing or stored twice: {count} from {low} to {high}"
            # One a second, plus status changes; the last seconds may not have been queued when the agent was killed.
            assert BAG_S - 10 <= count <= BAG_S + 5, count
            with db.connect() as conn:
                codes = [row[0] for row in conn.execute("SELECT code FROM events WHERE robot_id = 'acme-r1'")]
            assert codes == ["E_BRUSH_JAM"]

            bags = wait_for(
                lambda: (
                    httpx.get(f"{api}/v1/bags", params={"error_code": "E_BRUSH_JAM"}, headers=operator).json()["items"]
                    or None
                ),
                timeout_s=180,
            )
            (found,) = bags
            assert found["status"] == "done" and found["trigger"] == "error:E_BRUSH_JAM"
            assert found["robot_id"] == "acme-r1" and "/imu" in found["topics"]
            with db.connect() as conn:
                error_at = conn.execute("SELECT ts FROM events WHERE robot_id = 'acme-r1'").fetchone()[0]
            assert error_at.timestamp() - _ts(found["start_time"]) >= 299  # five minutes before the error
            assert _ts(found["end_time"]) - error_at.timestamp() >= 19
            assert found["download_url"], found
            downloaded = httpx.get(found["download_url"])
            assert downloaded.status_code == 200 and len(downloaded.content) == found["size_bytes"]

            agent_url = f"{api}/v1/robots/acme-r1/agent"
            wait_for(lambda: httpx.get(agent_url, headers=operator).status_code == 200)
            beat = httpx.get(agent_url, headers=operator).json()
            assert beat["heartbeat"]["dropped"] == 0 and beat["heartbeat"]["config_version"] == 1
            sent = httpx.post(
                f"{api}/v1/robots/acme-r1/commands", headers=operator, json={"type": "record", "args": {"minutes": 1}}
            )
            assert sent.status_code == 202, sent.text
            command = f"{api}/v1/robots/acme-r1/commands/{sent.json()['command_id']}"
            wait_for(lambda: httpx.get(command, headers=operator).json()["status"] == "succeeded")
            for version, heartbeat_s in ((1, 1), (2, 2)):
                config = httpx.put(
                    f"{api}/v1/robots/acme-r1/config", headers=operator, json={"heartbeat_s": heartbeat_s}
                )
                assert config.status_code == 200 and config.json()["version"] == version, config.text
            applied = f"{api}/v1/robots/acme-r1/config"
            wait_for(lambda: httpx.get(applied, headers=operator).json()["applied_version"] == 2, timeout_s=30)
    finally:
        if agent is not None and agent.poll() is None:
            os.killpg(agent.pid, signal.SIGTERM)
            agent.wait(timeout=30)
        broker.stop()


def _next_telemetry_seq(data_dir: Path) -> int:
    with closing(sqlite3.connect(data_dir / "spool.sqlite3")) as spool:
        return spool.execute("SELECT value FROM counters WHERE name = 'seq:telemetry'").fetchone()[0]


def _queue_settled(data_dir: Path) -> bool:
    """Whether the agent queued no telemetry in the last second."""
    before = _next_telemetry_seq(data_dir)
    time.sleep(1)
    return _next_telemetry_seq(data_dir) == before


def _status(data_dir: Path) -> dict:
    try:
        return json.loads((data_dir / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
