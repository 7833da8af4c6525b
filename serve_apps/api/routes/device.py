"""Routes for robots themselves (device keys only): report over HTTPS when MQTT is not an option."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from actors.intake import RawMessage
from fleetray.schemas import RobotEvent, TaskEvent, Telemetry
from fleetray.schemas.topics import MQTT_PREFIX
from fleetray.storage.api_keys import ApiKey
from serve_apps.api import auth
from serve_apps.api.context import ApiContext, Context
from serve_apps.api.models import IngestAccepted
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses

router = APIRouter(prefix="/v1/device", tags=["device"], responses=problem_responses(401, 403, 413, 422, 429, 503))
MAX_MESSAGES = 1000


class DeviceIdentity(BaseModel):
    tenant_id: str
    robot_id: str
    mqtt_topic_prefix: str


@router.get("/me", response_model=DeviceIdentity, summary="The robot this device key belongs to")
def device_me(key: auth.Device) -> DeviceIdentity:
    assert key.robot_id is not None
    return DeviceIdentity(
        tenant_id=key.tenant_id,
        robot_id=key.robot_id,
        mqtt_topic_prefix=f"{MQTT_PREFIX}/{key.tenant_id}/{key.robot_id}/",
    )


async def _ingest(
    channel: str, messages: list[Telemetry] | list[RobotEvent] | list[TaskEvent], key: ApiKey, context: ApiContext
) -> IngestAccepted:
    if len(messages) > MAX_MESSAGES:
        raise ApiProblem(
            422,
            "Invalid request",
            f"at most {MAX_MESSAGES} messages per request, got {len(messages)}",
            errors=[FieldProblem(field="body", message=f"at most {MAX_MESSAGES} items")],
        )
    for index, message in enumerate(messages):
        for field, owned in (("tenant_id", key.tenant_id), ("robot_id", key.robot_id)):
            if getattr(message, field) != owned:
                raise ApiProblem(
                    403,
                    "Forbidden",
                    f"body[{index}].{field} is {getattr(message, field)!r}; this device key reports only as {owned!r}",
                )
    assert key.robot_id is not None
    if not messages:
        return IngestAccepted.from_reports(0, [])
    topic = f"{MQTT_PREFIX}/{key.tenant_id}/{key.robot_id}/{channel}"
    raw = [
        RawMessage(channel, key.tenant_id, key.robot_id, m.model_dump_json().encode(), topic, "api") for m in messages
    ]
    reports = await run_in_threadpool(context.deliver, raw)
    return IngestAccepted.from_reports(len(raw), reports)


def _as_list(body: Any) -> list[Any]:
    return body if isinstance(body, list) else [body]


@router.post(
    "/telemetry",
    response_model=IngestAccepted,
    status_code=202,
    summary="Report telemetry: one sample or a batch; stored exactly once by (robot, seq)",
)
async def device_telemetry(
    key: auth.Device, context: Context, body: Annotated[Telemetry | list[Telemetry], Body()]
) -> IngestAccepted:
    return await _ingest("telemetry", _as_list(body), key, context)


@router.post("/events", response_model=IngestAccepted, status_code=202, summary="Report robot events")
async def device_events(
    key: auth.Device, context: Context, body: Annotated[RobotEvent | list[RobotEvent], Body()]
) -> IngestAccepted:
    return await _ingest("events", _as_list(body), key, context)


@router.post("/tasks", response_model=IngestAccepted, status_code=202, summary="Report task progress")
async def device_tasks(
    key: auth.Device, context: Context, body: Annotated[TaskEvent | list[TaskEvent], Body()]
) -> IngestAccepted:
    return await _ingest("tasks", _as_list(body), key, context)
