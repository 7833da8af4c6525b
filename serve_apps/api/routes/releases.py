"""Agent releases and rollouts: a tenant publishes signed agent wheels and offers them to a share of its robots.

The platform holds no signing key: a release is signed offline (``fleetray-edge release sign``) and
each robot checks the signature against the public key in its own config before installing. A
rollout sends an ``update`` command to the robots it picks (a stable share of the tenant's fleet, or
named robots); each command's status tells how that robot's update ended, rolled back included.
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import Base64Bytes, BaseModel, Field

from fleetray.errors import ServiceError
from fleetray.schemas import AgentCommand
from fleetray.schemas.agent import AgentUpdate
from fleetray.storage.agents import create_command, set_command_status
from fleetray.storage.fleet import list_robots
from fleetray.storage.releases import add_release, get_release, list_releases
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, problem_responses

router = APIRouter(
    prefix="/v1/agent/releases", tags=["agents"], responses=problem_responses(401, 403, 404, 409, 422, 429)
)
MAX_RELEASE_BYTES = 64 * 1024 * 1024
DOWNLOAD_TTL_S = 7 * 86400  # robots offline for days still fetch what was offered
VERSION = r"^[0-9][0-9A-Za-z.+-]{0,63}$"
Version = Annotated[str, Path(pattern=VERSION)]


class Release(BaseModel):
    version: str
    filename: str
    sha256: str
    signature: str
    size_bytes: int
    uploaded_by: str | None
    created_at: datetime


class ReleasePage(BaseModel):
    items: list[Release]


class ReleaseUpload(BaseModel):
    """A release as `fleetray-edge release sign` describes it, with the wheel itself (base64)."""

    version: str = Field(pattern=VERSION)
    filename: str = Field(pattern=r"^[A-Za-z0-9_.+-]{1,200}\.whl$")
    signature: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519 over the version and the SHA-256.")
    wheel: Base64Bytes = Field(min_length=1, max_length=MAX_RELEASE_BYTES, description="The wheel, base64.")


class RolloutRequest(BaseModel):
    share: float = Field(default=0.1, gt=0.0, le=1.0, description="Of the tenant's robots, picked stably by robot id.")
    robot_ids: list[str] | None = Field(default=None, max_length=10_000, description="These robots instead of a share.")
    deadline_s: float = Field(default=600.0, ge=30.0, le=86400.0, description="To report healthy, or roll back.")


class Rollout(BaseModel):
    version: str
    commands: dict[str, str] = Field(description="robot id -> the command id of its update")
    unreachable: dict[str, str] = Field(description="robot id -> why the command could not be sent")


def _release(row: dict[str, Any]) -> Release:
    return Release(**{name: row[name] for name in Release.model_fields})


def _in_share(version: str, robot_id: str, share: float) -> bool:
    """Whether a robot is in a rollout's first share: stable per version, spread across the fleet."""
    return zlib.crc32(f"{version}/{robot_id}".encode()) / 2**32 < share


@router.post("", response_model=Release, status_code=201, summary="Publish a signed agent release (a wheel)")
async def publish_release(key: auth.Admin, context: Context, body: ReleaseUpload) -> Release:
    digest = hashlib.sha256(body.wheel).hexdigest()
    object_key = f"agent-releases/{key.tenant_id}/{body.version}/{body.filename}"

    def store() -> dict[str, Any]:
        with context.connection() as conn, conn.transaction():
            row = add_release(
                conn,
                {
                    "tenant_id": key.tenant_id,
                    "version": body.version,
                    "filename": body.filename,
                    "sha256": digest,
                    "signature": body.signature,
                    "object_key": object_key,
                    "size_bytes": len(body.wheel),
                    "uploaded_by": key.key_id,
                },
            )
            context.store.put(object_key, body.wheel)
        return row

    return _release(await run_in_threadpool(store))


@router.get("", response_model=ReleasePage, summary="The tenant's agent releases, newest first")
def releases(key: auth.Reader, context: Context) -> ReleasePage:
    with context.connection() as conn:
        return ReleasePage(items=[_release(row) for row in list_releases(conn, key.tenant_id)])


@router.post(
    "/{version}:rollout",
    response_model=Rollout,
    status_code=202,
    summary="Offer a release to a share of the tenant's robots (or to named ones)",
)
def rollout(key: auth.Operator, context: Context, version: Version, body: RolloutRequest) -> Rollout:
    with context.connection() as conn:
        release = get_release(conn, key.tenant_id, version)
        fleet = [row["robot_id"] for row in list_robots(conn, key.tenant_id)]
    if body.robot_ids is not None:
        unknown = sorted(set(body.robot_ids) - set(fleet))
        if unknown:
            raise ApiProblem(404, "Not found", f"no robots {unknown[:10]} in this tenant")
        chosen = sorted(set(body.robot_ids))
    else:
        chosen = [robot for robot in fleet if _in_share(version, robot, body.share)]
    now = datetime.now(UTC)
    update = AgentUpdate(
        version=version,
        url=context.store.download_url(release["object_key"], expires_s=DOWNLOAD_TTL_S),
        sha256=release["sha256"],
        signature=release["signature"],
        filename=release["filename"],
        deadline_s=body.deadline_s,
    )
    args = update.model_dump()
    commands, unreachable = {}, {}
    for robot_id in chosen:
        with context.connection() as conn:
            row = create_command(
                conn,
                key.tenant_id,
                robot_id,
                "update",
                args,
                created_by=key.key_id,
                expires_at=now + timedelta(seconds=DOWNLOAD_TTL_S),
            )
        command = AgentCommand(
            command_id=row["command_id"], type="update", args=args, issued_at=now, expires_at=row["expires_at"]
        )
        try:
            context.publish_to_robot(key.tenant_id, robot_id, "cmd", command.model_dump_json().encode())
            status, detail = "sent", ""
        except ServiceError as err:
            status, detail = "failed", str(err)
            unreachable[robot_id] = detail
        with context.connection() as conn:
            set_command_status(conn, row["command_id"], status, detail)
        commands[robot_id] = row["command_id"]
    return Rollout(version=version, commands=commands, unreachable=unreachable)
