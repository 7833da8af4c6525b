"""Rows straight from the serialised bytes, for the highest-rate message types of a fixed layout.

An IMU at 100 Hz is most of the messages a cleaning robot records. Building a message object for
each one and then reading its fields back costs more than reading the fields from the bytes, whose
layout is fixed: a header, then 37 doubles. The rows are exactly those of the typed extractor
(a test holds the two to each other); anything unexpected (big-endian CDR, a bag whose definition
of the type differs from the standard one) falls back to the general path by returning None.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

IMU_DOUBLES = struct.Struct("<37d")  # orientation 4, covariance 9, angular velocity 3, cov 9, acceleration 3, cov 9
CDR_LITTLE_ENDIAN = b"\x00\x01"
SECONDS = struct.Struct("<iI")


def _imu_row(frame_id: str, sec: int, nanosec: int, values: tuple[float, ...]) -> dict[str, Any]:
    return {
        "stamp_ns": sec * 1_000_000_000 + nanosec, "frame_id": frame_id,
        "orientation_x": values[0], "orientation_y": values[1], "orientation_z": values[2], "orientation_w": values[3],
        "angular_velocity_x": values[13], "angular_velocity_y": values[14], "angular_velocity_z": values[15],
        "linear_acceleration_x": values[25], "linear_acceleration_y": values[26], "linear_acceleration_z": values[27],
    }  # fmt: skip


def imu_cdr(raw: bytes) -> list[dict[str, Any]] | None:
    """A sensor_msgs/msg/Imu in little-endian CDR."""
    if raw[:2] != CDR_LITTLE_ENDIAN:
        return None
    sec, nanosec = SECONDS.unpack_from(raw, 4)
    length = int.from_bytes(raw[12:16], "little")  # frame_id, with its NUL
    position = 16 + length
    position += -(position - 4) % 8  # doubles align to 8 within the payload (after the 4-byte encapsulation)
    if position + IMU_DOUBLES.size != len(raw):
        return None
    frame_id = raw[16 : 16 + length - 1].decode()
    return [_imu_row(frame_id, sec, nanosec, IMU_DOUBLES.unpack_from(raw, position))]


def imu_ros1(raw: bytes) -> list[dict[str, Any]] | None:
    """A sensor_msgs/Imu in ROS1 serialisation (no alignment; the header has a sequence number)."""
    sec, nanosec = struct.unpack_from("<II", raw, 4)
    length = int.from_bytes(raw[12:16], "little")
    position = 16 + length
    if position + IMU_DOUBLES.size != len(raw):
        return None
    frame_id = raw[16:position].decode()
    return [_imu_row(frame_id, sec, nanosec, IMU_DOUBLES.unpack_from(raw, position))]


FAST_ROWS: dict[tuple[str, str], Callable[[bytes], list[dict[str, Any]] | None]] = {
    ("sensor_msgs/msg/Imu", "cdr"): imu_cdr,
    ("sensor_msgs/msg/Imu", "ros1"): imu_ros1,
}
