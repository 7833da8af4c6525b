"""Reaching robots' edge agents: commands (with their outcome), remote config, the agent's last heartbeat.

A command is recorded, then published on the robot's ``cmd`` topic at QoS 1; the robot's persistent
session keeps it while the robot is offline. The agent answers on ``ack`` (accepted, then succeeded or
failed), which ingestion writes back, so ``GET .../commands/{id}`` tells how it went. A config is
stored with the next version number and published retained on ``config``: a robot that connects
later gets it at once, and an agent refuses one older than it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from fleetray.errors import NotFoundError, ServiceError
from fleetray.schemas import AgentCommand, RemoteConfig
from fleetray.storage.agents import (
    create_command,
    list_commands,
    put_config,
    read_agent,
    read_command,
    read_config,
    set_command_status,
)
from fleetray.storage.fleet import get_robot
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses
from serve_apps.api.routes.common import RobotIdPath

router = APIRouter(prefix="/v1/robots", tags=["agents"], responses=problem_responses(401, 403, 404, 422, 429, 503))
CommandIdPath = Annotated[str, Path(pattern=r"^cmd_[0-9a-f]{16}$")]


class CommandRequest(BaseModel):
    """A command for the robot's agent; ``args`` depend on ``type`` (see the agent's docs)."""

    type: Literal["record", "upload_logs", "reload_config", "restart"]
    args: dict[str, Any] = Field(default_factory=dict, examples=[{"minutes": 5}, {"until_task_end": True}])
    expires_in_s: int = Field(default=3600, ge=10, le=7 * 86400, description="Not carried out after this.")


class Command(BaseModel):
    command_id: str
    robot_id: str
    type: str
    args: dict[str, Any]
    status: str = Field(description="queued, sent, accepted, succeeded, failed, rejected or expired")
    detail: str
    result: dict[str, Any]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    updated_at: datetime


class CommandPage(BaseModel):
    items: list[Command]


class ConfigOut(BaseModel):
    robot_id: str
    version: int
    config: dict[str, Any]
    updated_by: str | None
    updated_at: datetime
    applied_version: int | None = Field(description="The version the agent last reported running.")
    refused: str | None = Field(description="Why the agent refused the last config it got, if it did.")


class AgentOut(BaseModel):
    robot_id: str
    reported_at: datetime
    received_at: datetime
    heartbeat: dict[str, Any]


def _command(row: dict[str, Any]) -> Command:
    return Command(**{name: row[name] for name in Command.model_fields})


@router.post(
    "/{robot_id}/commands", response_model=Command, status_code=202, summary="Send the robot's agent a command"
)
def send_command(key: auth.Operator, context: Context, robot_id: RobotIdPath, body: CommandRequest) -> Command:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=body.expires_in_s)
    try:
        AgentCommand(command_id="check", type=body.type, args=body.args, issued_at=now)
    except ValidationError as err:
        message = err.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        problem = FieldProblem(field="body.args", message=message)
        raise ApiProblem(422, "Invalid request", message, errors=[problem]) from err
    with context.connection() as conn:
        get_robot(conn, key.tenant_id, robot_id)
        row = create_command(
            conn, key.tenant_id, robot_id, body.type, body.args, created_by=key.key_id, expires_at=expires_at
        )
    command = AgentCommand(
        command_id=row["command_id"], type=body.type, args=body.args, issued_at=now, expires_at=expires_at
    )
    try:
        context.publish_to_robot(key.tenant_id, robot_id, "cmd", command.model_dump_json().encode())
    except ServiceError as err:
        with context.connection() as conn:
            set_command_status(conn, row["command_id"], "failed", str(err))
        raise ApiProblem(503, "Service unavailable", str(err)) from err
    with context.connection() as conn:
        set_command_status(conn, row["command_id"], "sent")
        return _command(read_command(conn, key.tenant_id, robot_id, row["command_id"]))


@router.get("/{robot_id}/commands", response_model=CommandPage, summary="The robot's recent commands")
def robot_commands(key: auth.Reader, context: Context, robot_id: RobotIdPath) -> CommandPage:
    with context.connection() as conn:
        get_robot(conn, key.tenant_id, robot_id)
        return CommandPage(items=[_command(row) for row in list_commands(conn, key.tenant_id, robot_id)])


@router.get("/{robot_id}/commands/{command_id}", response_model=Command, summary="One command and how it went")
def robot_command(key: auth.Reader, context: Context, robot_id: RobotIdPath, command_id: CommandIdPath) -> Command:
    with context.connection() as conn:
        return _command(read_command(conn, key.tenant_id, robot_id, command_id))


@router.put(
    "/{robot_id}/config", response_model=ConfigOut, summary="Set the agent's remote config (applied without restart)"
)
async def set_config(key: auth.Operator, context: Context, robot_id: RobotIdPath, body: dict[str, Any]) -> ConfigOut:
    body = {name: value for name, value in body.items() if name not in ("version", "updated_at")}
    try:
        RemoteConfig.model_validate({**body, "version": 1})
    except ValidationError as err:
        problems = [
            FieldProblem(field="body." + ".".join(map(str, e["loc"])), message=e["msg"])
            for e in err.errors(include_url=False)
        ]
        raise ApiProblem(
            422, "Invalid request", "; ".join(f"{p.field}: {p.message}" for p in problems), errors=problems
        ) from err

    def store_and_publish() -> int:
        with context.connection() as conn, conn.transaction():
            get_robot(conn, key.tenant_id, robot_id)
            version = put_config(conn, key.tenant_id, robot_id, body, updated_by=key.key_id)
            config = RemoteConfig.model_validate({**body, "version": version, "updated_at": datetime.now(UTC)})
            # Inside the transaction: a broker that refuses leaves the stored version as it was.
            context.publish_to_robot(key.tenant_id, robot_id, "config", config.model_dump_json().encode(), retain=True)
        return version

    try:
        await run_in_threadpool(store_and_publish)
    except ServiceError as err:
        raise ApiProblem(503, "Service unavailable", str(err)) from err
    return await run_in_threadpool(read_robot_config, key, context, robot_id)


@router.get("/{robot_id}/config", response_model=ConfigOut, summary="The agent's remote config, and whether it runs it")
def read_robot_config(key: auth.Reader, context: Context, robot_id: RobotIdPath) -> ConfigOut:
    with context.connection() as conn:
        stored = read_config(conn, key.tenant_id, robot_id)
        try:
            beat = read_agent(conn, key.tenant_id, robot_id)["heartbeat"]
        except NotFoundError:  # no agent reported yet
            beat = {}
    return ConfigOut(
        robot_id=robot_id,
        version=stored["version"],
        config=stored["config"],
        updated_by=stored["updated_by"],
        updated_at=stored["updated_at"],
        applied_version=beat.get("config_version"),
        refused=beat.get("config_error"),
    )


@router.get("/{robot_id}/agent", response_model=AgentOut, summary="The agent's last heartbeat: its health and queues")
def robot_agent(key: auth.Reader, context: Context, robot_id: RobotIdPath) -> AgentOut:
    with context.connection() as conn:
        row = read_agent(conn, key.tenant_id, robot_id)
    return AgentOut(robot_id=robot_id, **row)
