"""The edge agent's management messages: heartbeats up, commands and remote config down, acks up.

A heartbeat says how the agent itself is doing (its load, what it holds back, what it dropped);
commands arrive on ``cmd`` and are answered on ``ack``; the retained ``config`` topic carries the
part of the agent's configuration an operator may change from the platform, applied without restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from fleetray.schemas.messages import Name, RobotId, TenantId, WireModel

CommandType = Literal["record", "upload_logs", "reload_config", "restart", "update"]
AckStatus = Literal["accepted", "succeeded", "failed", "rejected"]
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AgentHeartbeat(WireModel):
    """The agent's health, every ``heartbeat_s`` seconds."""

    v: Literal[1] = 1
    tenant_id: TenantId
    robot_id: RobotId
    ts: AwareDatetime
    agent_version: str = Field(max_length=64)
    started_at: AwareDatetime
    cpu_percent: float = Field(ge=0.0, description="The agent process's CPU use, percent of one core.")
    rss_mb: float = Field(ge=0.0)
    disk_free_mb: float | None = Field(default=None, ge=0.0)
    queue_messages: int = Field(ge=0, description="Messages waiting in the store-and-forward queue.")
    queue_bytes: int = Field(ge=0)
    dropped: int = Field(ge=0, description="Messages dropped, oldest first, to keep the queue in its bound.")
    uplink_kbit_s: float = Field(default=0.0, ge=0.0)
    last_upload_at: AwareDatetime | None = None
    uploads_pending: int = Field(default=0, ge=0)
    recorder_bytes: int = Field(default=0, ge=0)
    config_version: int = Field(default=0, ge=0)
    config_error: str | None = Field(default=None, max_length=2000, description="Why the last config was refused.")
    versions: dict[str, str] = Field(default_factory=dict, max_length=32)


class AgentCommand(WireModel):
    """What an operator asks a robot's agent to do; ``args`` depend on ``type``.

    - ``record``: ``{"minutes": N}`` or ``{"until_task_end": true}``
    - ``upload_logs``: ``{"lines": N}`` (the tail of each watched log)
    - ``reload_config``, ``restart``: none
    - ``update``: ``{"version", "url", "sha256", "signature", "filename", "deadline_s"}`` (see :class:`AgentUpdate`)
    """

    command_id: CommandId
    type: CommandType
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_args(self) -> AgentCommand:
        if self.type == "record":
            minutes, until_task_end = self.args.get("minutes"), self.args.get("until_task_end")
            if until_task_end is not True and not (isinstance(minutes, int | float) and 0 < minutes <= 120):
                raise ValueError("record needs args {'minutes': 1..120} or {'until_task_end': true}")
        if self.type == "update":
            AgentUpdate.model_validate(self.args)
        return self


class AgentUpdate(WireModel):
    """A signed agent release for one robot: the agent checks the Ed25519 signature before installing.

    The signature is over ``release_message(version, sha256)``; a version that does not report healthy
    within ``deadline_s`` of its start is rolled back by the agent itself.
    """

    version: str = Field(pattern=r"^[0-9][0-9A-Za-z.+-]{0,63}$")
    url: str = Field(max_length=4000, pattern=r"^https?://")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519, hex.")
    filename: str = Field(pattern=r"^[A-Za-z0-9_.+-]{1,200}\.whl$")
    deadline_s: float = Field(default=600.0, ge=30.0, le=86400.0)


def release_message(version: str, sha256: str) -> bytes:
    """What a release's Ed25519 signature signs: the version and the artifact's digest, bound together."""
    return f"fleetray-edge-release:{version}:{sha256}".encode()


class CommandAck(WireModel):
    """The agent's answer to a command: accepted first, then succeeded or failed (or rejected at once)."""

    v: Literal[1] = 1
    tenant_id: TenantId
    robot_id: RobotId
    ts: AwareDatetime
    command_id: CommandId
    status: AckStatus
    detail: str = Field(default="", max_length=2000)
    result: dict[str, Any] = Field(default_factory=dict)


class StreamRate(WireModel):
    """How often one downsampled stream goes up, in seconds (0: on change only)."""

    interval_s: float = Field(ge=0.0, le=3600.0)


class RecorderPolicy(WireModel):
    """The rolling full-rate recorder and what triggers a bag."""

    enabled: bool = True
    before_s: float = Field(default=300.0, ge=0.0, le=3600.0)
    after_s: float = Field(default=120.0, ge=0.0, le=3600.0)
    budget_mb: float = Field(default=2048.0, gt=0.0)
    segment_s: float = Field(default=20.0, ge=1.0, le=600.0)
    on_levels: list[Literal["WARNING", "ERROR", "FATAL"]] = Field(default_factory=lambda: ["ERROR", "FATAL"])
    on_anomaly: bool = True
    min_task_efficiency: float | None = Field(default=0.5, ge=0.0, le=1.0)
    compression: Literal["zstd", "lz4"] = "zstd"
    blur_faces: bool = False


class RemoteConfig(WireModel):
    """The settings the platform may change on a running agent (the retained ``config`` topic).

    ``version`` must grow with each change: an agent ignores a config older than the one it runs.
    """

    version: int = Field(ge=1)
    streams: dict[Name, StreamRate] = Field(default_factory=dict, max_length=64)
    heartbeat_s: float = Field(default=30.0, ge=1.0, le=3600.0)
    batch_max_delay_s: float = Field(default=5.0, ge=0.1, le=600.0)
    recorder: RecorderPolicy = Field(default_factory=RecorderPolicy)
    upload_kbit_s: float = Field(default=1000.0, gt=0.0, description="Bag upload bandwidth while idle.")
    upload_kbit_s_working: float = Field(default=250.0, gt=0.0, description="...while the robot works.")
    anomaly_threshold: float = Field(default=6.0, gt=0.0, description="EWMA z-score that raises an anomaly event.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    updated_at: datetime | None = None
