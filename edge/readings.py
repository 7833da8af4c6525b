"""What sources hand the agent: ROS messages (decoded, and raw for the recorder), readings, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceMessage:
    """One message as a ROS source delivered it.

    ``message`` is the decoded message (rosbags' classes: attribute access, the same for ROS 1 and
    ROS 2); ``raw`` its serialised bytes in ``encoding`` (ros1 or cdr), which the recorder keeps.
    """

    topic: str
    msgtype: str
    timestamp_ns: int
    message: Any
    raw: bytes
    encoding: str
    definition: str
    definition_encoding: str


@dataclass(frozen=True)
class Reading:
    """Values of one downsampled stream at one time, by flat name (``battery.soc``, ``metrics.imu_accel``)."""

    stream: str
    timestamp_ns: int
    values: dict[str, Any]
    stats: tuple[str, ...] = ("last",)


@dataclass(frozen=True)
class EventReading:
    """Something that becomes a ``RobotEvent`` (and, when severe enough, a recording trigger)."""

    timestamp_ns: int
    level: str
    code: str
    message: str
    component: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskReading:
    """A step of a task (becomes a ``TaskEvent``); its efficiency can trigger a recording."""

    timestamp_ns: int
    task_id: str
    type: str
    values: dict[str, Any] = field(default_factory=dict)


Item = SourceMessage | Reading | EventReading | TaskReading
