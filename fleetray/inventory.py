"""The fleet's inventory as records: tenants, sites, robots, maintenance. Plain pydantic, no driver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetray.schemas.messages import ROBOT_ID_PATTERN, TENANT_ID_PATTERN


class TenantRecord(BaseModel):
    """A customer of the platform."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


class SiteRecord(BaseModel):
    """A place robots clean; ``width_m`` x ``height_m`` is the map's extent."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    site_id: str = Field(pattern=ROBOT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    area_m2: float | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)


class RobotRecord(BaseModel):
    """A registered robot and what it can do."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    robot_id: str = Field(pattern=ROBOT_ID_PATTERN)
    manufacturer: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    serial: str = Field(min_length=1, max_length=100)
    site_id: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class MaintenanceRecord(BaseModel):
    """A part replaced, repaired, cleaned or inspected."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    robot_id: str = Field(pattern=ROBOT_ID_PATTERN)
    component: str
    kind: str = Field(pattern=r"^(replacement|repair|cleaning|inspection)$")
    reason: str = Field(default="preventive", pattern=r"^(preventive|failure|inspection)$")
    performed_at: datetime
    usage_h: float | None = Field(default=None, ge=0)
    notes: str = ""
