from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
import zstandard

from fleetray import schemas
from fleetray.errors import SchemaValidationError, TopicError
from fleetray.schemas import (
    PayloadError,
    RobotEvent,
    RobotStatus,
    TaskEvent,
    Telemetry,
    decode_messages,
    decode_payload,
    encode_batch,
    encode_message,
    is_batch,
    kafka_topic,
    mqtt_subscription,
    mqtt_topic,
    parse_kafka_topic,
    parse_mqtt_topic,
    validate_message,
)


def telemetry_dict(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "tenant_id": "acme",
        "robot_id": "r-001",
        "ts": "2026-11-27T10:00:00Z",
        "seq": 42,
        "status": "cleaning",
        "pose": {"x": 1.5, "y": -2.0, "theta": 0.3, "map_id": "floor-1"},
        "velocity": {"linear": 0.8, "angular": 0.01},
        "battery": {"soc": 0.81, "voltage": 25.4, "current": -12.5, "temp": 31.0, "charging": False},
        "components": {"main_brush": {"current_a": 4.2, "temp_c": 40.0, "rpm": 380, "usage_h": 120.5}},
        "system": {"cpu": 35.0, "mem": 50.0, "disk": 40.0, "net": 3000},
        "metrics": {"wheel_vibration_g": 0.07},
    }
    data.update(overrides)
    return data


def test_valid_telemetry_round_trips_through_json() -> None:
    message = validate_message(Telemetry, telemetry_dict())
    assert message.status is RobotStatus.CLEANING
    assert message.v == schemas.SCHEMA_VERSION
    assert validate_message(Telemetry, json.loads(encode_message(message))) == message


def test_timestamps_are_normalised_to_utc() -> None:
    message = validate_message(Telemetry, telemetry_dict(ts="2026-11-27T12:00:00+02:00"))
    assert message.ts == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert message.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("overrides", "field", "expected_fragment"),
    [
        ({"seq": -1}, "seq", "greater than or equal to 0"),
        ({"status": "flying"}, "status", "'cleaning'"),
        ({"ts": "2026-11-27T10:00:00"}, "ts", "timezone"),
        ({"ts": "yesterday"}, "ts", "datetime"),
        ({"robot_id": "robot/1"}, "robot_id", "pattern"),
        ({"tenant_id": "ACME"}, "tenant_id", "pattern"),
        (
            {"battery": {"soc": 1.7, "voltage": 25, "current": 0, "temp": 20}},
            "battery.soc",
            "less than or equal to 1",
        ),
        ({"battery": {"soc": 0.5, "voltage": 25, "current": 0, "temp": math.nan}}, "battery.temp", "finite"),
        ({"pose": {"x": math.inf, "y": 0, "theta": 0}}, "pose.x", "finite"),
        ({"components": {"Main Brush": {"current_a": 1.0}}}, "components.Main Brush.[key]", "pattern"),
        (
            {"components": {"main_brush": {"current_a": -3.0}}},
            "components.main_brush.current_a",
            "greater than",
        ),
        ({"metrics": {"vibration": "high"}}, "metrics.vibration", "number"),
        ({"speed": 3}, "speed", "unknown fields are rejected"),
        ({"v": 2}, "v", "1"),
    ],
)
def test_invalid_telemetry_names_field_value_and_expectation(
    overrides: dict[str, object], field: str, expected_fragment: str
) -> None:
    with pytest.raises(SchemaValidationError) as caught:
        validate_message(Telemetry, telemetry_dict(**overrides))
    problems = {problem[0]: problem for problem in caught.value.problems}
    assert field in problems, caught.value.problems
    _, _, expected = problems[field]
    assert expected_fragment in expected
    assert f"telemetry.{field}: got " in str(caught.value)


def test_missing_required_fields_are_each_reported() -> None:
    data = telemetry_dict()
    del data["seq"], data["status"]
    with pytest.raises(SchemaValidationError) as caught:
        validate_message(Telemetry, data)
    assert {p[0] for p in caught.value.problems} == {"seq", "status"}
    assert "the field is required" in str(caught.value)


def test_schema_errors_are_value_errors_for_generic_handlers() -> None:
    with pytest.raises(ValueError, match=r"telemetry\.seq"):
        validate_message(Telemetry, telemetry_dict(seq="many"))


def test_events_and_task_events_validate() -> None:
    event = validate_message(
        RobotEvent,
        {
            "tenant_id": "acme",
            "robot_id": "r-001",
            "ts": "2026-11-27T10:00:00Z",
            "seq": 1,
            "level": "ERROR",
            "code": "MAIN_BRUSH_STALLED",
            "message": "stalled",
            "component": "main_brush",
            "state": {"soc": 0.4},
        },
    )
    assert event.level.value == "ERROR"
    with pytest.raises(SchemaValidationError, match=r"event\.code"):
        validate_message(RobotEvent, {**event.model_dump(mode="json"), "code": "stalled!"})
    task = validate_message(
        TaskEvent,
        {
            "tenant_id": "acme",
            "robot_id": "r-001",
            "ts": "2026-11-27T10:00:00Z",
            "seq": 1,
            "task_id": "t-1",
            "type": "progress",
            "progress": 0.5,
        },
    )
    assert task.progress == 0.5
    with pytest.raises(SchemaValidationError, match=r"task\.progress"):
        validate_message(TaskEvent, {**task.model_dump(mode="json"), "progress": 1.5})


def test_batch_round_trip_and_detection() -> None:
    messages = [validate_message(Telemetry, telemetry_dict(seq=n)) for n in range(100)]
    payload = encode_batch(messages)
    assert is_batch(payload)
    assert not is_batch(encode_message(messages[0]))
    assert len(payload) < sum(len(encode_message(m)) for m in messages) / 5
    assert decode_messages(Telemetry, payload) == messages
    assert decode_messages(Telemetry, encode_message(messages[0])) == messages[:1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"\x28\xb5\x2f\xfd" + b"garbage", "corrupt_batch"),
        (b"{}" + b" " * 2_000_000, "oversized"),
    ],
)
def test_undecodable_payloads_raise_payload_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_payload(payload)
    assert caught.value.reason == reason


def test_decompression_bombs_are_refused() -> None:
    bomb = zstandard.ZstdCompressor().compress(b"{}\n" * 10_000_000)
    assert len(bomb) < 1_048_576
    with pytest.raises(PayloadError) as caught:
        decode_payload(bomb)
    assert caught.value.reason == "oversized"


def test_one_bad_line_in_a_batch_names_its_line() -> None:
    good = encode_message(validate_message(Telemetry, telemetry_dict())).decode()
    payload = zstandard.ZstdCompressor().compress(f"{good}\n{{oops\n".encode())
    with pytest.raises(PayloadError, match="line 2"):
        decode_payload(payload)


def test_mqtt_topics() -> None:
    assert mqtt_topic("acme", "r-001", "telemetry") == "fr/v1/acme/r-001/telemetry"
    parsed = parse_mqtt_topic("fr/v1/acme/r-001/events")
    assert (parsed.tenant_id, parsed.robot_id, parsed.channel) == ("acme", "r-001", "events")
    assert str(parsed) == "fr/v1/acme/r-001/events"
    assert mqtt_subscription("telemetry") == "fr/v1/+/+/telemetry"
    assert mqtt_subscription("tasks", tenant_id="acme", shared_group="ingest") == "$share/ingest/fr/v1/acme/+/tasks"


@pytest.mark.parametrize(
    "topic",
    [
        "fr/v1/acme/r-001",
        "fr/v2/acme/r-001/telemetry",
        "fr/v1/ACME/r-001/telemetry",
        "fr/v1/acme/r+1/telemetry",
        "fr/v1/acme/r-001/selfie",
    ],
)
def test_bad_mqtt_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_mqtt_topic(topic)


def test_kafka_topics() -> None:
    assert kafka_topic("telemetry", "acme") == "robot.telemetry.acme"
    assert parse_kafka_topic("robot.events.acme") == ("events", "acme")
    with pytest.raises(TopicError, match=r"robot\.photos\.acme"):
        parse_kafka_topic("robot.photos.acme")
    with pytest.raises(TopicError, match="tenant id"):
        kafka_topic("telemetry", "Acme Corp")


def test_public_api_matches_all() -> None:
    exported = {name for name in dir(schemas) if not name.startswith("_")}
    modules = {"agent", "encoding", "messages", "topics", "annotations"}
    assert set(schemas.__all__) == exported - modules


def test_importing_schemas_stays_light() -> None:
    code = (
        "import sys, fleetray, fleetray.schemas\n"
        "heavy = ('ray', 'torch', 'xgboost', 'ortools', 'psycopg', 'pyarrow', 'numpy')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_non_utc_offsets_are_accepted() -> None:
    tz = timezone(timedelta(hours=-5))
    message = validate_message(Telemetry, telemetry_dict(ts=datetime(2026, 11, 27, 5, tzinfo=tz).isoformat()))
    assert message.ts.hour == 10
