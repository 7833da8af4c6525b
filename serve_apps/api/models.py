"""Request and response bodies of the REST API (they are the OpenAPI document's schemas)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from actors.shard_core import IngestReport
from fleetray.schemas.messages import ROBOT_ID_PATTERN
from fleetray.storage.api_keys import Role

NAME = Field(min_length=1, max_length=200)
COMPONENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def _without_nul(value: Any, where: str = "") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'a value'} contains a NUL character, which cannot be stored")
    elif isinstance(value, dict):
        for key, item in value.items():
            _without_nul(key, where)
            _without_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _without_nul(item, f"{where}[{index}]")


class Body(BaseModel):
    """Request bodies refuse unknown fields (a typo is an error, not silently ignored) and NUL characters."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        _without_nul(data)
        return data


class Whoami(BaseModel):
    tenant_id: str
    key_id: str
    role: Role
    robot_id: str | None = None


class SiteCreate(Body):
    site_id: str = Field(pattern=ROBOT_ID_PATTERN, max_length=128)
    name: str = NAME
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    area_m2: float | None = Field(default=None, ge=0, le=1e9)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Site(BaseModel):
    site_id: str
    name: str
    timezone: str
    latitude: float | None
    longitude: float | None
    area_m2: float | None
    metadata: dict[str, Any]
    created_at: datetime


class SitePage(BaseModel):
    items: list[Site]
    next_cursor: str | None


class RobotCreate(Body):
    robot_id: str = Field(pattern=ROBOT_ID_PATTERN, max_length=128)
    manufacturer: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    serial: str = Field(min_length=1, max_length=100)
    site_id: str | None = Field(default=None, pattern=ROBOT_ID_PATTERN, max_length=128)
    capabilities: list[str] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Robot(BaseModel):
    robot_id: str
    manufacturer: str
    model: str
    serial: str
    site_id: str | None
    capabilities: list[str]
    metadata: dict[str, Any]
    created_at: datetime


class RobotPage(BaseModel):
    items: list[Robot]
    next_cursor: str | None


class MqttCredentialOut(BaseModel):
    """The robot's MQTT login: the password is shown this once."""

    username: str
    password: str
    topic_prefix: str


class RobotRegistered(BaseModel):
    robot: Robot
    mqtt: MqttCredentialOut


class LiveState(BaseModel):
    """A robot's state: from its shard (``source: live``) or, when no shard holds it, the last stored sample."""

    robot_id: str
    site_id: str | None
    manufacturer: str
    model: str
    status: str | None
    last_seen: datetime | None
    seq: int | None
    latest: dict[str, Any] | None
    task: dict[str, Any] | None
    alerts: list[str]
    source: Literal["live", "stored"]


class FleetState(BaseModel):
    items: list[LiveState]
    next_cursor: str | None


class HistoryPage(BaseModel):
    """Raw samples (one object per sample) or rollups (one per bucket and metric), oldest first."""

    robot_id: str
    resolution: Literal["raw", "1m", "1h"]
    items: list[dict[str, Any]]
    next_cursor: str | None


class Event(BaseModel):
    robot_id: str
    seq: int
    ts: datetime
    level: str
    code: str
    message: str
    component: str | None


class EventPage(BaseModel):
    items: list[Event]
    next_cursor: str | None


class Alert(BaseModel):
    alert_id: int
    robot_id: str
    rule: str
    severity: str
    state: str
    message: str
    details: dict[str, Any]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None


class Task(BaseModel):
    task_id: str
    robot_id: str | None
    site_id: str | None
    area_id: str | None
    status: str
    area_m2: float | None
    cleaned_m2: float | None
    progress: float | None
    efficiency: float | None
    reason: str | None
    assigned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[Task]
    next_cursor: str | None


class MaintenanceCreate(Body):
    robot_id: str = Field(pattern=ROBOT_ID_PATTERN, max_length=128)
    component: str = Field(pattern=COMPONENT_PATTERN)
    kind: Literal["replacement", "repair", "cleaning", "inspection"]
    reason: Literal["preventive", "failure", "inspection"] = "preventive"
    performed_at: datetime
    usage_h: float | None = Field(default=None, ge=0, le=1e6)
    notes: str = Field(default="", max_length=2000)


class Maintenance(BaseModel):
    record_id: int
    robot_id: str
    component: str
    kind: str
    reason: str
    performed_at: datetime
    usage_h: float | None
    notes: str


class MaintenancePage(BaseModel):
    items: list[Maintenance]
    next_cursor: str | None


class ApiKeyCreate(Body):
    role: Role
    robot_id: str | None = Field(default=None, pattern=ROBOT_ID_PATTERN, max_length=128)
    description: str = Field(default="", max_length=200)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    key_id: str
    role: Role
    robot_id: str | None
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyPage(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None


class ApiKeyCreated(BaseModel):
    """The new key: ``token`` is shown this once and is not stored."""

    key: ApiKeyOut
    token: str


class WebhookCreate(Body):
    url: AnyHttpUrl
    alert_rules: list[str] = Field(default_factory=list, max_length=50, description="Empty: every rule.")
    min_severity: Literal["info", "warning", "critical"] = "info"
    description: str = Field(default="", max_length=200)


class Webhook(BaseModel):
    subscription_id: int
    url: str
    alert_rules: list[str]
    min_severity: str
    description: str
    active: bool
    created_at: datetime


class WebhookCreated(BaseModel):
    """The subscription and its signing secret, shown this once."""

    webhook: Webhook
    secret: str


class WebhookPage(BaseModel):
    items: list[Webhook]
    next_cursor: str | None


class WebhookDelivery(BaseModel):
    delivery_id: int
    subscription_id: int
    event_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDelivery]
    next_cursor: str | None


class ConnectorAccountSettings(Body):
    """How to reach a manufacturer's cloud for this tenant; the token is write-only."""

    base_url: AnyHttpUrl = Field(description="Base URL of the manufacturer's API.")
    api_token: str = Field(min_length=1, max_length=4096, description="The API token the manufacturer issued.")
    poll_interval_s: float = Field(default=30.0, ge=1.0, le=86_400.0, description="Seconds between polls.")
    requests_per_s: float = Field(
        default=5.0, ge=0.1, le=1_000.0, description="Requests per second allowed to the manufacturer."
    )
    site_id: str | None = Field(
        default=None, max_length=64, description="Site for robots the manufacturer lists without one."
    )


class ConnectorAccount(BaseModel):
    """A tenant's connection to a manufacturer's cloud and how its polling goes (never the token)."""

    connector: str
    manufacturer: str
    base_url: str
    poll_interval_s: float
    requests_per_s: float
    site_id: str | None
    webhook_url: str = Field(description="Where the manufacturer pushes signed webhooks for this tenant.")
    last_polled_at: datetime | None
    last_error: str | None
    created_at: datetime


class ConnectorAccountSaved(BaseModel):
    """The account; on creation also the webhook signing secret, shown this once."""

    account: ConnectorAccount
    webhook_secret: str | None = Field(description="Given to the manufacturer for signing; null on a change.")


class Connectors(BaseModel):
    """The connectors this platform has installed, and the tenant's accounts with them."""

    installed: list[str]
    accounts: list[ConnectorAccount]


class IngestAccepted(BaseModel):
    """What the platform took from a device or a manufacturer's webhook."""

    received: int
    telemetry: int
    events: int
    task_events: int
    duplicates: int
    rejected: dict[str, int]

    @classmethod
    def from_reports(cls, received: int, reports: list[IngestReport]) -> IngestAccepted:
        """The shards' reports on what they took, added up."""
        rejected: Counter[str] = Counter()
        for report in reports:
            rejected.update(report.dead)
        return cls(
            received=received,
            telemetry=sum(r.new_telemetry for r in reports),
            events=sum(r.events for r in reports),
            task_events=sum(r.task_events for r in reports),
            duplicates=sum(r.duplicates for r in reports),
            rejected=dict(rejected),
        )
