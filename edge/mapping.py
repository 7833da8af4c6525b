"""From ROS messages to telemetry: which topic feeds which field is configuration (``[topics]``).

Each kind reads the fields of the standard message it names (the same names in ROS 1 and ROS 2):

- ``battery``: sensor_msgs/BatteryState -> battery.soc, voltage, current, temp, charging
- ``odometry``: nav_msgs/Odometry -> pose.x, pose.y, pose.theta, velocity.linear, velocity.angular
- ``pose``: geometry_msgs/PoseStamped or PoseWithCovarianceStamped -> pose
- ``imu``: sensor_msgs/Imu -> metrics.imu_accel (norm), metrics.imu_gyro_z; mean, max and last
- ``diagnostics``: diagnostic_msgs/DiagnosticArray -> components (by status name), events at ERROR
- ``log``: rosgraph_msgs/Log or rcl_interfaces/Log -> events at WARN and above
- ``task_status``: std_msgs/String, a robot status or a JSON object (status, task_id, event, efficiency)
- ``metric``: any numeric field (dotted path) -> metrics.NAME
- ``record_only``: kept by the recorder, sent nowhere
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from edge.config import TopicMapping
from edge.readings import EventReading, Reading, SourceMessage, TaskReading
from fleetray.schemas import RobotStatus, TaskEventType
from fleetray.schemas.messages import code_in_text

logger = logging.getLogger(__name__)

Output = Reading | EventReading | TaskReading
ROS1_LEVELS = {1: "DEBUG", 2: "INFO", 4: "WARNING", 8: "ERROR", 16: "FATAL"}
ROS2_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "FATAL"}
DIAGNOSTIC_LEVELS = {0: "INFO", 1: "WARNING", 2: "ERROR", 3: "WARNING"}
EXPECTED_TYPES = {
    "battery": ("sensor_msgs/msg/BatteryState",),
    "odometry": ("nav_msgs/msg/Odometry",),
    "pose": ("geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped"),
    "imu": ("sensor_msgs/msg/Imu",),
    "diagnostics": ("diagnostic_msgs/msg/DiagnosticArray",),
    "log": ("rosgraph_msgs/msg/Log", "rcl_interfaces/msg/Log"),
    "task_status": ("std_msgs/msg/String",),
}
STATUSES = {status.value for status in RobotStatus}
TASK_EVENTS = {event.value for event in TaskEventType}


class TopicMapper:
    """Turns each configured topic's messages into readings and events; other topics yield nothing.

    A topic whose type does not match its kind is reported once (by name, type and what was expected)
    and then ignored: the agent keeps running with the topics it understands.
    """

    def __init__(self, topics: dict[str, TopicMapping]) -> None:
        self.topics = topics
        self.refused: dict[str, str] = {}

    def map(self, item: SourceMessage) -> list[Output]:
        mapping = self.topics.get(item.topic)
        if mapping is None or mapping.kind == "record_only" or item.topic in self.refused:
            return []
        expected = EXPECTED_TYPES.get(mapping.kind)
        msgtype = item.msgtype if "/msg/" in item.msgtype else item.msgtype.replace("/", "/msg/", 1)
        if expected is not None and msgtype not in expected:
            self.refused[item.topic] = (
                f"topic {item.topic} is {item.msgtype}; kind {mapping.kind!r} reads {' or '.join(expected)}"
            )
            logger.warning("%s: the topic is ignored (fix [topics] in agent.toml)", self.refused[item.topic])
            return []
        try:
            return KINDS[mapping.kind](item, mapping)
        except (AttributeError, TypeError, ValueError) as err:
            self.refused[item.topic] = f"topic {item.topic} ({item.msgtype}) cannot be read as {mapping.kind!r}: {err}"
            logger.warning("%s: the topic is ignored", self.refused[item.topic])
            return []


def wire_code(text: str) -> str | None:
    """The error code in a log line, as the wire format spells codes (``E-BUMP-101`` -> ``E_BUMP_101``)."""
    code = code_in_text(text)
    return None if code is None else code.replace("-", "_")[:64]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _battery(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    msg = item.message
    values: dict[str, Any] = {}
    soc = _finite(msg.percentage)
    if soc is not None:
        values["battery.soc"] = min(1.0, max(0.0, soc / 100.0 if soc > 1.0 else soc))
    for name, field in (
        ("battery.voltage", "voltage"),
        ("battery.current", "current"),
        ("battery.temp", "temperature"),
    ):
        value = _finite(getattr(msg, field, None))
        if value is not None:
            values[name] = value
    values["battery.charging"] = int(getattr(msg, "power_supply_status", 0)) == 1
    return [Reading(mapping.stream or "battery", item.timestamp_ns, values)]


def _yaw(q: Any) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _pose_values(pose: Any) -> dict[str, Any]:
    return {"pose.x": float(pose.position.x), "pose.y": float(pose.position.y), "pose.theta": _yaw(pose.orientation)}


def _odometry(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    msg = item.message
    stream = mapping.stream or "pose"
    values = _pose_values(msg.pose.pose)
    values["velocity.linear"] = float(msg.twist.twist.linear.x)
    values["velocity.angular"] = float(msg.twist.twist.angular.z)
    return [Reading(stream, item.timestamp_ns, values)]


def _pose(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    pose = item.message.pose
    return [Reading(mapping.stream or "pose", item.timestamp_ns, _pose_values(getattr(pose, "pose", pose)))]


def _imu(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    msg = item.message
    acc = msg.linear_acceleration
    values = {
        "metrics.imu_accel": math.sqrt(acc.x * acc.x + acc.y * acc.y + acc.z * acc.z),
        "metrics.imu_gyro_z": float(msg.angular_velocity.z),
    }
    return [Reading(mapping.stream or "imu", item.timestamp_ns, values, stats=("mean", "max", "last"))]


def _level(value: Any) -> int:
    return value[0] if isinstance(value, bytes | bytearray) else int(value)


def _diagnostics(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    out: list[Output] = []
    values: dict[str, Any] = {}
    for status in item.message.status:
        component = mapping.components.get(status.name)
        if component is None:
            continue
        for pair in status.values:
            field = mapping.keys.get(pair.key)
            number = _finite(pair.value)
            if field is not None and number is not None and number >= 0:
                values[f"components.{component}.{field}"] = number
        level = DIAGNOSTIC_LEVELS.get(_level(status.level), "INFO")
        if level in ("WARNING", "ERROR"):
            code = wire_code(status.message or "") or f"DIAG_{component.upper()}"
            out.append(EventReading(item.timestamp_ns, level, code, f"{status.name}: {status.message}", component))
    if values:
        out.insert(0, Reading(mapping.stream or "diagnostics", item.timestamp_ns, values, stats=("mean", "last")))
    return out


def _log(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    msg = item.message
    levels = ROS2_LEVELS if item.msgtype.startswith("rcl_interfaces") else ROS1_LEVELS
    level = levels.get(_level(msg.level), "INFO")
    if level not in ("WARNING", "ERROR", "FATAL"):
        return []
    text = str(msg.msg)
    code = wire_code(text) or f"ROS_{level}"
    return [EventReading(item.timestamp_ns, level, code, f"[{msg.name}] {text}"[:2000])]


def _task_status(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    text = str(item.message.data).strip()
    if not text.startswith("{"):
        status = text.lower()
        return [Reading("status", item.timestamp_ns, {"status": status})] if status in STATUSES else []
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the JSON is not an object")
    out: list[Output] = []
    status = str(data.get("status", "")).lower()
    values: dict[str, Any] = {"status": status} if status in STATUSES else {}
    if "task_id" in data:
        values["task_id"] = None if data["task_id"] is None else str(data["task_id"])[:128]
    if values:
        out.append(Reading("status", item.timestamp_ns, values))
    event = str(data.get("event", "")).lower()
    if event in TASK_EVENTS and data.get("task_id"):
        details = {
            k: data[k]
            for k in ("progress", "efficiency", "area_m2", "cleaned_m2", "site_id", "area_id", "reason")
            if k in data
        }
        out.append(TaskReading(item.timestamp_ns, str(data["task_id"])[:128], event, details))
    return out


def _metric(item: SourceMessage, mapping: TopicMapping) -> list[Output]:
    value: Any = item.message
    assert mapping.field is not None
    for part in mapping.field.split("."):
        value = getattr(value, part)
    number = _finite(value)
    if number is None:
        return []
    return [
        Reading(mapping.stream or mapping.name or "metrics", item.timestamp_ns, {f"metrics.{mapping.name}": number})
    ]


KINDS: dict[str, Callable[[SourceMessage, TopicMapping], list[Output]]] = {
    "battery": _battery,
    "odometry": _odometry,
    "pose": _pose,
    "imu": _imu,
    "diagnostics": _diagnostics,
    "log": _log,
    "task_status": _task_status,
    "metric": _metric,
}
