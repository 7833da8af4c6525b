"""Webhooks pushed by manufacturer clouds: verified (HMAC-SHA256, timestamp, replay window), then ingested.

These routes carry no API key: the vendor signs each request with the secret of the tenant's
connector account. Every verification failure answers the same 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from actors.cloud_poller import register_vendor_robots, to_raw
from actors.connectors import connectors
from actors.connectors.base import VendorRobot
from fleetray.errors import NotFoundError
from fleetray.schemas.messages import TENANT_ID_PATTERN
from fleetray.storage.connectors import accept_webhook_once, get_account
from fleetray.webhook_signing import SignatureError
from serve_apps.api.context import Context
from serve_apps.api.models import IngestAccepted
from serve_apps.api.problems import ApiProblem, problem_responses

router = APIRouter(prefix="/v1/connectors", tags=["connectors"], responses=problem_responses(401, 409, 413, 422, 503))
REPLAY_WINDOW = timedelta(minutes=5)


@router.post(
    "/{connector}/webhooks/{tenant_id}",
    response_model=IngestAccepted,
    status_code=202,
    summary="Receive a manufacturer cloud's signed webhook for a tenant",
)
async def receive_webhook(
    context: Context,
    connector: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$")],
    tenant_id: Annotated[str, Path(pattern=TENANT_ID_PATTERN)],
    request: Request,
) -> IngestAccepted:
    body = await request.body()
    plugin = connectors().get(connector)
    refused = ApiProblem(401, "Unauthorized", "the webhook's signature could not be verified")
    if plugin is None:
        raise refused

    def verify_and_record() -> None:
        with context.connection() as conn:
            try:
                account = get_account(conn, tenant_id, connector)
                signature = plugin.verify_webhook(
                    account["webhook_secret"], request.headers, body, tolerance_s=REPLAY_WINDOW.total_seconds()
                )
            except (NotFoundError, SignatureError):
                raise refused from None
            if not accept_webhook_once(conn, connector, tenant_id, signature, window=REPLAY_WINDOW):
                raise ApiProblem(409, "Conflict", "this webhook was received already (a replay)")

    await run_in_threadpool(verify_and_record)
    try:
        messages = plugin.parse_webhook(body)
    except ValueError as err:
        raise ApiProblem(422, "Invalid request", str(err)) from None
    robots = [VendorRobot(m.robot_id, m.robot_id, "unknown") for m in messages]
    await run_in_threadpool(register_vendor_robots, context.db, tenant_id, plugin.manufacturer, robots, None)
    reports = await run_in_threadpool(context.deliver, to_raw(tenant_id, connector, messages))
    return IngestAccepted.from_reports(len(messages), reports)
