"""The agent's configuration: ``agent.toml`` on the robot, and the remote part the platform may change.

The local file says who the robot is, where the broker and the API are, which sources to read and
which topic feeds which field; :class:`~fleetray.schemas.RemoteConfig` (its ``[remote]`` table, then
the retained ``config`` topic) holds the rates, the recorder's policy and the bandwidth.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.errors import AgentConfigError
from fleetray.schemas import RemoteConfig
from fleetray.schemas.messages import ROBOT_ID_PATTERN, TENANT_ID_PATTERN

if sys.version_info >= (3, 11):
    import tomllib
else:  # ROS 2 Humble's Python
    import tomli as tomllib

TopicKind = Literal["battery", "odometry", "pose", "imu", "diagnostics", "log", "task_status", "metric", "record_only"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(Strict):
    """The MQTT broker: ``mqtt://``, ``mqtts://`` (TLS), ``ws://`` or ``wss://`` (WebSockets, e.g. port 443)."""

    url: str
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = Field(default=None, description="CA bundle to verify the broker; the system's if unset.")
    cert_file: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    key_file: Path | None = None
    ws_path: str = "/mqtt"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_max_s: float = Field(default=60.0, ge=1.0, le=3600.0, description="The longest wait between attempts.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value.split("://", 1)[0] not in {"mqtt", "mqtts", "ws", "wss"} or "://" not in value:
            raise ValueError(f"{value!r} is not an mqtt://, mqtts://, ws:// or wss:// URL")
        return value

    @model_validator(mode="after")
    def _client_certificate(self) -> BrokerConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


class ApiConfig(Strict):
    """The platform's HTTPS API: bag uploads, and the telemetry fallback when MQTT is blocked."""

    url: str = Field(pattern=r"^https?://")
    device_key_file: Path
    ca_file: Path | None = None


class SpoolConfig(Strict):
    """The store-and-forward queue."""

    max_mb: float = Field(default=256.0, gt=0)
    encryption_key: str | None = Field(
        default=None, description="file:/path (32 raw bytes or 64 hex digits) or keyring:service/name; unset: plain."
    )
    batch_max_messages: int = Field(default=500, ge=1, le=5000)


class BagSource(Strict):
    """Plays a ROS 1 bag, a rosbag2 directory or an MCAP file as if live."""

    kind: Literal["bag"]
    path: Path
    rate: float = Field(default=1.0, gt=0, description="1: recorded speed; 0 is not allowed, use a large number.")
    loop: bool = False
    start_offset_s: float = Field(default=0.0, ge=0, description="Skip this much of the bag's beginning.")
    start_at: Literal["now", "recorded"] = Field(
        default="now", description="now: timestamps shifted to the present; recorded: as in the bag."
    )


class Ros1Source(Strict):
    """Live ROS 1 topics, through a rospy bridge process run by the system's ROS Python."""

    kind: Literal["ros1"]
    topics: list[str] = Field(min_length=1)
    master_uri: str | None = None
    python: str = "/usr/bin/python3"


class Ros2Source(Strict):
    """Live ROS 2 topics through rclpy, where it is importable."""

    kind: Literal["ros2"]
    topics: list[str] = Field(min_length=1)


class SystemSource(Strict):
    """The robot computer's CPU, memory, disk, network and temperatures (psutil)."""

    kind: Literal["system"]
    interval_s: float = Field(default=5.0, gt=0)
    disk_path: Path = Path("/")


class LogSource(Strict):
    """Log files, tailed across rotation: WARNING and ERROR lines become events."""

    kind: Literal["logs"]
    paths: list[Path] = Field(min_length=1)
    pattern: str = Field(
        default=r"\b(?P<level>WARNING|WARN|ERROR|FATAL|CRITICAL)\b",
        description="A regex with a `level` group, optionally a `code` group (else the line's first code counts).",
    )
    poll_s: float = Field(default=1.0, gt=0)


class VendorSource(Strict):
    """A manufacturer's local robot API, polled over HTTP; ``fields`` maps telemetry fields to JSON paths."""

    kind: Literal["vendor_http"]
    url: str = Field(pattern=r"^https?://")
    interval_s: float = Field(default=1.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(
        min_length=1, description="e.g. {'battery.soc': 'battery.level_pct/100', 'status': 'state'}"
    )
    status_map: dict[str, str] = Field(default_factory=dict)


SourceConfig = Annotated[
    BagSource | Ros1Source | Ros2Source | SystemSource | LogSource | VendorSource,
    Field(discriminator="kind"),
]


class TopicMapping(Strict):
    """Which part of the telemetry a topic feeds (configuration, not code).

    ``components`` maps a diagnostics status name to a component; ``keys`` maps a diagnostics key to
    a reading (current_a, temp_c, rpm, usage_h); ``field`` is the message field a ``metric`` takes
    (dotted), or the JSON key of a ``task_status`` string.
    """

    kind: TopicKind
    stream: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$", description="metric name")
    field: str | None = None
    components: dict[str, str] = Field(default_factory=dict)
    keys: dict[str, Literal["current_a", "temp_c", "rpm", "usage_h"]] = Field(
        default_factory=lambda: {"current": "current_a", "temperature": "temp_c", "rpm": "rpm", "usage_h": "usage_h"}
    )
    record: bool = Field(default=True, description="Keep the topic's full-rate messages in the rolling recorder.")

    @model_validator(mode="after")
    def _needs(self) -> TopicMapping:
        if self.kind == "metric" and (self.field is None or self.name is None):
            raise ValueError("a metric topic needs `field` (the message field) and `name` (the metric)")
        return self


class UpdatesConfig(Strict):
    """Over-the-air updates: only releases signed with this key's private half are installed."""

    public_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="Ed25519, 32 bytes in hex.")


class AgentConfig(Strict):
    """Everything in agent.toml."""

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    robot_id: str = Field(pattern=ROBOT_ID_PATTERN)
    data_dir: Path
    broker: BrokerConfig
    api: ApiConfig | None = None
    transport: Literal["mqtt", "https", "auto"] = Field(
        default="auto", description="auto: MQTT, and the HTTPS routes while MQTT has been down for fallback_after_s."
    )
    fallback_after_s: float = Field(default=120.0, gt=0)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    topics: dict[str, TopicMapping] = Field(default_factory=dict)
    log_files_for_upload: list[Path] = Field(default_factory=list)
    remote: RemoteConfig = Field(default_factory=lambda: RemoteConfig(version=1))
    disk_reserve_mb: float = Field(default=200.0, ge=0, description="Free disk the agent never eats into.")
    updates: UpdatesConfig = Field(default_factory=UpdatesConfig)

    @model_validator(mode="after")
    def _https_needs_api(self) -> AgentConfig:
        if self.transport == "https" and self.api is None:
            raise ValueError("transport = 'https' needs an [api] table (url, device_key_file)")
        return self

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "spool.sqlite3"


def parse_config(data: dict[str, Any], *, origin: str = "agent.toml") -> AgentConfig:
    """Validate a parsed agent.toml.

    Raises:
        AgentConfigError: names each bad field, the value given and what was expected.
    """
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as err:
        raise AgentConfigError(f"{origin}: {describe(err)}") from err


def load_config(path: Path) -> AgentConfig:
    """Read and validate agent.toml.

    Raises:
        AgentConfigError: the file is missing, not TOML, or a value is wrong (the message names it).
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise AgentConfigError(f"no agent config at {path}; pass --config PATH") from err
    except tomllib.TOMLDecodeError as err:
        raise AgentConfigError(f"{path} is not valid TOML: {err}") from err
    return parse_config(data, origin=str(path))


def describe(err: ValidationError) -> str:
    """A validation error as ``field: got value, expected ...`` clauses."""
    clauses = []
    for item in err.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        given = item.get("input")
        shown = "" if isinstance(given, dict) else f"got {given!r}, "
        clauses.append(f"{where}: {shown}{item['msg'].removeprefix('Value error, ')}")
    return "; ".join(clauses)


def read_secret(path: Path | None, what: str) -> str | None:
    """A secret kept in a file (first line, stripped).

    Raises:
        AgentConfigError: the file is named but cannot be read.
    """
    if path is None:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise AgentConfigError(f"cannot read the {what} from {path}: {err.strerror}") from err
