"""Messages as table rows: typed columns for the types robots commonly record, a flattening for the rest.

Every row has ``t_ns`` (the bag's log time); stamped messages add ``stamp_ns`` and ``frame_id``.
Messages that hold several things (a TF message's transforms, a diagnostic array's statuses) give
a row per thing. Warnings and errors from log and diagnostic messages also come out as events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetray.schemas.messages import code_in_text

Row = dict[str, Any]
MAX_FLAT_ARRAY = 16  # numeric arrays up to this long become list columns; longer ones are summarised
INT64_MAX = (1 << 63) - 1

ROS1_LOG_LEVELS = {1: "debug", 2: "info", 4: "warn", 8: "error", 16: "fatal"}
ROS2_LOG_LEVELS = {10: "debug", 20: "info", 30: "warn", 40: "error", 50: "fatal"}
DIAGNOSTIC_LEVELS = {0: "ok", 1: "warn", 2: "error", 3: "stale"}
EVENT_LEVELS = {"warn", "error", "fatal", "stale"}


@dataclass(frozen=True)
class Event:
    """A warning or error a bag recorded: from a log message or a diagnostic status."""

    t_ns: int
    level: str
    source: str  # the node (logs) or the diagnostic's name
    code: str  # a diagnostic's "code" value or hardware id; the code in a log's text, else its function; may be ""
    message: str
    topic: str


def _time_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _xyz(prefix: str, vector: Any) -> Row:
    return {f"{prefix}_x": float(vector.x), f"{prefix}_y": float(vector.y), f"{prefix}_z": float(vector.z)}


def _quaternion(prefix: str, q: Any) -> Row:
    return {f"{prefix}_x": float(q.x), f"{prefix}_y": float(q.y), f"{prefix}_z": float(q.z), f"{prefix}_w": float(q.w)}


def _header(msg: Any) -> Row:
    header = getattr(msg, "header", None)
    if header is None:
        return {}
    return {"stamp_ns": _time_ns(header.stamp), "frame_id": str(header.frame_id)}


def _pose(prefix: str, pose: Any) -> Row:
    return {**_xyz(f"{prefix}position", pose.position), **_quaternion(f"{prefix}orientation", pose.orientation)}


def _twist(prefix: str, twist: Any) -> Row:
    return {**_xyz(f"{prefix}linear", twist.linear), **_xyz(f"{prefix}angular", twist.angular)}


def imu(msg: Any) -> list[Row]:
    return [
        {
            **_header(msg),
            **_quaternion("orientation", msg.orientation),
            **_xyz("angular_velocity", msg.angular_velocity),
            **_xyz("linear_acceleration", msg.linear_acceleration),
        }
    ]


def battery_state(msg: Any) -> list[Row]:
    return [
        {
            **_header(msg),
            "voltage": float(msg.voltage),
            "current": float(msg.current),
            "charge": float(msg.charge),
            "capacity": float(msg.capacity),
            "percentage": float(msg.percentage),
            "temperature": float(getattr(msg, "temperature", np.nan)),
            "power_supply_status": np.uint8(msg.power_supply_status),
            "power_supply_health": np.uint8(msg.power_supply_health),
            "present": bool(msg.present),
        }
    ]


def laser_scan(msg: Any) -> list[Row]:
    ranges = np.asarray(msg.ranges, dtype=np.float64)
    valid = ranges[np.isfinite(ranges) & (ranges >= msg.range_min) & (ranges <= msg.range_max)]
    return [
        {
            **_header(msg),
            "angle_min": float(msg.angle_min),
            "angle_max": float(msg.angle_max),
            "range_min": float(msg.range_min),
            "range_max": float(msg.range_max),
            "beams": len(ranges),
            "valid_fraction": len(valid) / len(ranges) if len(ranges) else 0.0,
            "ranges_min": float(valid.min()) if len(valid) else np.nan,
            "ranges_mean": float(valid.mean()) if len(valid) else np.nan,
            "ranges_max": float(valid.max()) if len(valid) else np.nan,
        }
    ]


def nav_sat_fix(msg: Any) -> list[Row]:
    return [
        {
            **_header(msg),
            "latitude": float(msg.latitude),
            "longitude": float(msg.longitude),
            "altitude": float(msg.altitude),
            "status": np.int8(msg.status.status),
            "service": np.uint16(msg.status.service),
            "covariance_type": np.uint8(msg.position_covariance_type),
        }
    ]


def temperature(msg: Any) -> list[Row]:
    return [{**_header(msg), "temperature": float(msg.temperature), "variance": float(msg.variance)}]


def joint_state(msg: Any) -> list[Row]:
    return [
        {
            **_header(msg),
            "name": [str(n) for n in msg.name],
            "position": [float(v) for v in msg.position],
            "velocity": [float(v) for v in msg.velocity],
            "effort": [float(v) for v in msg.effort],
        }
    ]


def odometry(msg: Any) -> list[Row]:
    return [
        {
            **_header(msg),
            "child_frame_id": str(msg.child_frame_id),
            **_pose("", msg.pose.pose),
            **_twist("", msg.twist.twist),
        }
    ]


def twist(msg: Any) -> list[Row]:
    return [_twist("", msg)]


def twist_stamped(msg: Any) -> list[Row]:
    return [{**_header(msg), **_twist("", msg.twist)}]


def pose(msg: Any) -> list[Row]:
    return [_pose("", msg)]


def pose_stamped(msg: Any) -> list[Row]:
    return [{**_header(msg), **_pose("", msg.pose)}]


def pose_with_covariance_stamped(msg: Any) -> list[Row]:
    covariance = np.asarray(msg.pose.covariance, dtype=np.float64)
    return [
        {
            **_header(msg),
            **_pose("", msg.pose.pose),
            "covariance_trace": float(np.trace(covariance.reshape(6, 6))) if covariance.size == 36 else np.nan,
        }
    ]


def diagnostic_array(msg: Any) -> list[Row]:
    stamp = _header(msg)
    return [
        {
            **stamp,
            "name": str(status.name),
            "level": int(status.level),
            "message": str(status.message),
            "hardware_id": str(status.hardware_id),
            "values": json.dumps({str(kv.key): str(kv.value) for kv in status.values}),
        }
        for status in msg.status
    ]


def log(msg: Any) -> list[Row]:
    """A ROS1 rosgraph_msgs/Log (stamped by its header) or a ROS2 rcl_interfaces/Log (by its stamp)."""
    stamp = {"stamp_ns": _time_ns(msg.stamp)} if hasattr(msg, "stamp") else _header(msg)
    return [
        {
            **stamp,
            "level": int(msg.level),
            "name": str(msg.name),
            "msg": str(msg.msg),
            "file": str(msg.file),
            "function": str(msg.function),
            "line": np.uint32(msg.line),
        }
    ]


def tf_message(msg: Any) -> list[Row]:
    return [
        {
            "stamp_ns": _time_ns(t.header.stamp),
            "frame_id": str(t.header.frame_id),
            "child_frame_id": str(t.child_frame_id),
            **_xyz("translation", t.transform.translation),
            **_quaternion("rotation", t.transform.rotation),
        }
        for t in msg.transforms
    ]


TYPED: dict[str, Callable[[Any], list[Row]]] = {
    "sensor_msgs/msg/Imu": imu,
    "sensor_msgs/msg/BatteryState": battery_state,
    "sensor_msgs/msg/LaserScan": laser_scan,
    "sensor_msgs/msg/NavSatFix": nav_sat_fix,
    "sensor_msgs/msg/Temperature": temperature,
    "sensor_msgs/msg/JointState": joint_state,
    "nav_msgs/msg/Odometry": odometry,
    "geometry_msgs/msg/Twist": twist,
    "geometry_msgs/msg/TwistStamped": twist_stamped,
    "geometry_msgs/msg/Pose": pose,
    "geometry_msgs/msg/PoseStamped": pose_stamped,
    "geometry_msgs/msg/PoseWithCovarianceStamped": pose_with_covariance_stamped,
    "diagnostic_msgs/msg/DiagnosticArray": diagnostic_array,
    "rosgraph_msgs/msg/Log": log,
    "rcl_interfaces/msg/Log": log,
    "tf2_msgs/msg/TFMessage": tf_message,
    "tf/msg/tfMessage": tf_message,
}
MEDIA_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/PointCloud2"}
EVENT_TYPES = {"rosgraph_msgs/msg/Log", "rcl_interfaces/msg/Log", "diagnostic_msgs/msg/DiagnosticArray"}


IntegerTypes = Callable[[str], dict[str, type]]  # a message type -> its integer fields' numpy scalar types


def flatten(msg: Any, prefix: str = "", row: Row | None = None, integers: IntegerTypes | None = None) -> Row:
    """The numeric and string fields of any message, nested ones under dotted names.

    Times become ``…_ns`` integers; short numeric arrays become lists, long ones their length and
    mean; arrays of messages their length. Integers keep their ROS width and sign (``integers`` says
    which field is which; without it, a value beyond int64 is taken as uint64).
    """
    row = {} if row is None else row
    fields = getattr(msg, "__dataclass_fields__", None)
    if fields is None:
        return row
    widths = integers(msg.__msgtype__) if integers is not None else {}
    for name in fields:
        if name == "__msgtype__":
            continue
        value = getattr(msg, name)
        key = f"{prefix}{name}"
        if hasattr(value, "sec") and hasattr(value, "nanosec") and len(value.__dataclass_fields__) <= 3:
            row[f"{key}_ns"] = _time_ns(value)
        elif hasattr(value, "__dataclass_fields__"):
            flatten(value, f"{key}.", row, integers)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "iu" and value.size <= MAX_FLAT_ARRAY:
                row[key] = value  # a list of the same integer type
            elif value.dtype.kind in "fb" and value.size <= MAX_FLAT_ARRAY:
                row[key] = value.astype(np.float64).tolist()
            elif value.dtype.kind in "fiub":
                row[f"{key}.len"] = int(value.size)
                row[f"{key}.mean"] = float(value.mean()) if value.size else np.nan
            else:
                row[f"{key}.len"] = int(value.size)
        elif isinstance(value, list):
            if value and all(isinstance(item, str) for item in value):
                row[key] = [str(item) for item in value]
            else:
                row[f"{key}.len"] = len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            row[key] = _integer(value, widths.get(name))
        elif isinstance(value, bool | float | str | np.generic):
            row[key] = value.item() if isinstance(value, np.generic) else value
    return row


def _integer(value: int, width: type | None) -> int | np.integer:
    if width is not None:
        return width(value)
    return np.uint64(value) if value > INT64_MAX else value


# Typed rows whose ``level`` is a ``byte``: signed in ROS 1, an octet in ROS 2, which only the bag can say.
LEVELS = {
    "diagnostic_msgs/msg/DiagnosticArray": "diagnostic_msgs/msg/DiagnosticStatus",
    "rosgraph_msgs/msg/Log": "rosgraph_msgs/msg/Log",
    "rcl_interfaces/msg/Log": "rcl_interfaces/msg/Log",
}


def rows_of(msgtype: str, msg: Any, integers: IntegerTypes | None = None) -> list[Row]:
    """The table rows of one message; ``integers`` gives the integer widths of the types in the bag."""
    typed = TYPED.get(msgtype)
    if typed is None:
        return [flatten(msg, integers=integers)]
    rows = typed(msg)
    width = integers(LEVELS[msgtype]).get("level") if integers is not None and msgtype in LEVELS else None
    if width is not None:
        for row in rows:
            row["level"] = width(row["level"])
    return rows


def events_of(msgtype: str, rows: list[Row], t_ns: int, topic: str) -> list[Event]:
    """The warnings and errors among a log or diagnostic message's rows."""
    events = []
    if msgtype in ("rosgraph_msgs/msg/Log", "rcl_interfaces/msg/Log"):
        levels = ROS1_LOG_LEVELS if msgtype.startswith("rosgraph") else ROS2_LOG_LEVELS
        for row in rows:
            level = levels.get(row["level"], str(row["level"]))
            if level in EVENT_LEVELS:
                code = code_in_text(row["msg"]) or row["function"]
                events.append(Event(t_ns, level, row["name"], code, row["msg"], topic))
    elif msgtype == "diagnostic_msgs/msg/DiagnosticArray":
        for row in rows:
            level = DIAGNOSTIC_LEVELS.get(row["level"], str(row["level"]))
            if level in EVENT_LEVELS:
                values = json.loads(row["values"])
                code = values.get("code") or values.get("error_code") or row["hardware_id"]
                events.append(Event(t_ns, level, row["name"], code, row["message"], topic))
    return events
