"""The wire format: what robots send, as versioned pydantic models.

The format is a contract with robots in the field: add optional fields freely, but anything that
changes the meaning of an existing field needs a new ``v``.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

SCHEMA_VERSION = 1

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # ROS 2 Humble's Python, where the edge agent runs: the same behaviour, spelled out

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ROBOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]
RobotId = Annotated[str, StringConstraints(pattern=ROBOT_ID_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EventCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
ShortText = Annotated[str, StringConstraints(max_length=128)]
CODE_IN_TEXT = re.compile(r"\b[A-Z][A-Z0-9]*(?:[_-][A-Z0-9]+)+\b")


def code_in_text(text: str) -> str | None:
    """The first error code in a log line (``E_BRUSH_JAM``, ``E-BUMP-101``) as written, or None.

    A code is a word of capitals and digits in parts joined by ``_`` or ``-``: plain words such as
    ``ERROR`` or ``OK`` are not codes.
    """
    found = CODE_IN_TEXT.search(text)
    return found.group(0) if found else None


class RobotStatus(StrEnum):
    """What a robot is doing."""

    IDLE = "idle"
    CLEANING = "cleaning"
    CHARGING = "charging"
    DOCKED = "docked"
    MOVING = "moving"
    ERROR = "error"
    OFFLINE = "offline"


class EventLevel(StrEnum):
    """Severity of a robot event."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    FATAL = "FATAL"


class TaskEventType(StrEnum):
    """The life cycle of a cleaning task."""

    ASSIGNED = "assigned"
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"


class WireModel(BaseModel):
    """Base of every wire model: unknown fields, NaN and infinity are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, use_enum_values=False)


class Pose(WireModel):
    """Position on a site map, metres and radians."""

    x: float
    y: float
    theta: float = Field(ge=-7.0, le=7.0)
    map_id: ShortText | None = None


class Velocity(WireModel):
    """Linear (m/s) and angular (rad/s) velocity."""

    linear: float = Field(ge=-10.0, le=10.0)
    angular: float = Field(ge=-20.0, le=20.0)


class Battery(WireModel):
    """Battery state; ``soc`` is a fraction from 0 to 1, current is negative while discharging.

    Only ``soc`` is required: robots reported by a manufacturer's cloud often give nothing else.
    """

    soc: float = Field(ge=0.0, le=1.0)
    voltage: float | None = Field(default=None, ge=0.0, le=1000.0)
    current: float | None = Field(default=None, ge=-1000.0, le=1000.0)
    temp: float | None = Field(default=None, ge=-50.0, le=150.0)
    charging: bool = False


class ComponentReading(WireModel):
    """One wearing component (main_brush, side_brush, vacuum, wheels, filter, ...)."""

    current_a: float | None = Field(default=None, ge=0.0, le=500.0)
    temp_c: float | None = Field(default=None, ge=-50.0, le=250.0)
    rpm: float | None = Field(default=None, ge=0.0, le=100_000.0)
    usage_h: float | None = Field(default=None, ge=0.0)


class SystemStats(WireModel):
    """The robot computer's load, in percent and bytes per second."""

    cpu: float | None = Field(default=None, ge=0.0, le=100.0)
    mem: float | None = Field(default=None, ge=0.0, le=100.0)
    disk: float | None = Field(default=None, ge=0.0, le=100.0)
    net: float | None = Field(default=None, ge=0.0)


class _RobotMessage(WireModel):
    v: Literal[1] = SCHEMA_VERSION
    tenant_id: TenantId
    robot_id: RobotId
    ts: AwareDatetime
    seq: int = Field(ge=0, lt=2**63, description="Per robot and stream, strictly increasing; the dedup key.")

    @field_validator("ts")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(timezone.utc)


class Telemetry(_RobotMessage):
    """One sample of a robot's state, sent at about 1 Hz."""

    pose: Pose | None = None
    velocity: Velocity | None = None
    battery: Battery | None = None
    status: RobotStatus
    task_id: ShortText | None = None
    components: dict[Name, ComponentReading] = Field(default_factory=dict, max_length=64)
    system: SystemStats | None = None
    metrics: dict[Name, float] = Field(default_factory=dict, max_length=256)


class RobotEvent(_RobotMessage):
    """Something that happened on a robot: a warning, an error, a notice."""

    level: EventLevel
    code: EventCode
    message: str = Field(default="", max_length=2000)
    component: Name | None = None
    state: dict[str, Any] = Field(default_factory=dict, description="Snapshot of the robot's state.")


class TaskEvent(_RobotMessage):
    """A step in a cleaning task's life cycle."""

    task_id: ShortText
    type: TaskEventType
    site_id: ShortText | None = None
    area_id: ShortText | None = None
    area_m2: float | None = Field(default=None, ge=0.0, description="Planned area.")
    cleaned_m2: float | None = Field(default=None, ge=0.0)
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    efficiency: float | None = Field(default=None, ge=0.0, le=10.0, description="Achieved over nominal cleaning rate.")
    reason: str | None = Field(default=None, max_length=500, description="Why a task failed.")


RobotMessage = Telemetry | RobotEvent | TaskEvent
