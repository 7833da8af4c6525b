"""Manufacturer clouds: a tenant's accounts (admins connect and disconnect them), and the webhooks they push.

Pushed webhooks carry no API key: the vendor signs each request with the secret of the tenant's
connector account, and every verification failure answers the same 401. The platform's pollers
follow the accounts as they change (``actors.cloud_poller.PollerSupervisor``), without a restart.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from actors.cloud_poller import register_vendor_robots, to_raw
from actors.connectors import connectors
from actors.connectors.base import VendorRobot
from fleetray.errors import ConfigError, NotFoundError
from fleetray.schemas.messages import TENANT_ID_PATTERN
from fleetray.storage.connectors import accept_webhook_once, add_account, get_account, list_accounts, remove_account
from fleetray.storage.fleet import get_site
from fleetray.webhook_signing import SignatureError
from serve_apps.api import auth
from serve_apps.api.context import ApiContext, Context
from serve_apps.api.models import (
    ConnectorAccount,
    ConnectorAccountSaved,
    ConnectorAccountSettings,
    Connectors,
    IngestAccepted,
)
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses
from serve_apps.api.routes.webhooks import refuse_private_url

router = APIRouter(prefix="/v1/connectors", tags=["connectors"], responses=problem_responses(401, 409, 413, 422, 503))
REPLAY_WINDOW = timedelta(minutes=5)
ConnectorPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


def _account(context: ApiContext, row: dict) -> ConnectorAccount:
    connector = row["connector"]
    plugin = connectors().get(connector)
    return ConnectorAccount(
        **{field: row[field] for field in ConnectorAccount.model_fields if field in row},
        manufacturer=plugin.manufacturer if plugin else "unknown (connector not installed)",
        webhook_url=f"{context.settings.api_base_url}/v1/connectors/{connector}/webhooks/{row['tenant_id']}",
    )


def _installed(connector: str) -> None:
    if connector not in connectors():
        installed = ", ".join(sorted(connectors())) or "none"
        raise ApiProblem(404, "Not found", f"no connector {connector!r} is installed; installed: {installed}")


@router.get("", response_model=Connectors, summary="Installed connectors and the tenant's accounts with them")
def list_connectors(key: auth.Reader, context: Context) -> Connectors:
    with context.connection() as conn:
        rows = list_accounts(conn, key.tenant_id)
    return Connectors(installed=sorted(connectors()), accounts=[_account(context, row) for row in rows])


@router.put(
    "/{connector}",
    response_model=ConnectorAccountSaved,
    responses={
        201: {"model": ConnectorAccountSaved, "description": "Connected: the webhook signing secret, shown once"},
        **problem_responses(400, 403, 404),
    },
    summary="Connect the tenant to a manufacturer's cloud, or change the connection (admins)",
)
def save_connector(
    key: auth.Admin, context: Context, connector: ConnectorPath, body: ConnectorAccountSettings, response: Response
) -> ConnectorAccountSaved:
    _installed(connector)
    refuse_private_url(context, body.base_url.host or "", "body.base_url", "the platform does not poll")
    with context.connection() as conn:
        if body.site_id is not None:
            try:
                get_site(conn, key.tenant_id, body.site_id)
            except NotFoundError:
                raise ApiProblem(
                    422,
                    "Invalid request",
                    f"site {body.site_id!r} is not one of the tenant's sites",
                    errors=[FieldProblem(field="body.site_id", message="one of the tenant's sites")],
                ) from None
        existed = any(row["connector"] == connector for row in list_accounts(conn, key.tenant_id))
        try:
            row = add_account(
                conn,
                key.tenant_id,
                connector,
                base_url=str(body.base_url).rstrip("/"),
                api_token=body.api_token,
                poll_interval_s=body.poll_interval_s,
                requests_per_s=body.requests_per_s,
                site_id=body.site_id,
            )
        except ConfigError as err:
            raise ApiProblem(422, "Invalid request", str(err)) from None
    response.status_code = 200 if existed else 201
    return ConnectorAccountSaved(
        account=_account(context, row), webhook_secret=None if existed else row["webhook_secret"]
    )


@router.delete(
    "/{connector}",
    status_code=204,
    responses=problem_responses(403, 404),
    summary="Disconnect the tenant from a manufacturer's cloud (its robots and their history stay)",
)
def delete_connector(key: auth.Admin, context: Context, connector: ConnectorPath) -> Response:
    with context.connection() as conn:
        remove_account(conn, key.tenant_id, connector)
    return Response(status_code=204)


@router.post(
    "/{connector}/webhooks/{tenant_id}",
    response_model=IngestAccepted,
    status_code=202,
    summary="Receive a manufacturer cloud's signed webhook for a tenant",
)
async def receive_webhook(
    context: Context,
    connector: ConnectorPath,
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
