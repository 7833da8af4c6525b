from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from actors.intake import RawMessage
from fleetray.inventory import RobotRecord, SiteRecord, TenantRecord
from fleetray.schemas import Telemetry, encode_batch, encode_message, mqtt_topic, validate_message
from fleetray.storage import Database
from fleetray.storage.fleet import upsert_robots, upsert_sites, upsert_tenant


@pytest.fixture
def fleet(db: Database, tenant_id: str) -> list[str]:
    """Three registered robots of one tenant, with a main-brush current limit of 5 A."""
    robots = ["r1", "r2", "r3"]
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
        upsert_sites(conn, [SiteRecord(tenant_id=tenant_id, site_id="hq", name="HQ")])
        upsert_robots(
            conn,
            [
                RobotRecord(
                    tenant_id=tenant_id,
                    robot_id=r,
                    manufacturer="Gausium",
                    model="Phantas",
                    serial=r,
                    site_id="hq",
                    metadata={"current_limits": {"main_brush": 5.0}},
                )
                for r in robots
            ],
        )
    return robots


def sample(tenant_id: str, robot_id: str, seq: int, *, ts: datetime | None = None, **fields: object) -> Telemetry:
    data: dict[str, object] = {
        "tenant_id": tenant_id,
        "robot_id": robot_id,
        "seq": seq,
        "status": "cleaning",
        "ts": ts or datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=600 - seq),
        "pose": {"x": seq * 0.5, "y": 1.0, "theta": 0.0},
        "battery": {"soc": 0.8, "voltage": 25.0, "current": -10.0, "temp": 30.0},
        "components": {"main_brush": {"current_a": 3.0, "temp_c": 40.0}},
    }
    data.update(fields)
    return validate_message(Telemetry, data)


def raw(message: Telemetry | list[Telemetry], channel: str = "telemetry", topic_robot: str | None = None) -> RawMessage:
    first = message[0] if isinstance(message, list) else message
    payload = encode_batch(message) if isinstance(message, list) else encode_message(message)
    robot = topic_robot or first.robot_id
    return RawMessage(channel, first.tenant_id, robot, payload, mqtt_topic(first.tenant_id, robot, channel))


def raw_bytes(tenant_id: str, robot_id: str, payload: bytes | dict, channel: str = "telemetry") -> RawMessage:
    body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    return RawMessage(channel, tenant_id, robot_id, body, mqtt_topic(tenant_id, robot_id, channel))
