"""Outgoing webhooks (admins): subscribe URLs to alerts, and see every delivery's outcome."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from fleetray.storage.listings import WEBHOOK_DELIVERIES, WEBHOOK_SUBSCRIPTIONS
from fleetray.storage.paging import list_page
from fleetray.storage.webhooks import create_subscription, deactivate_subscription, get_subscription
from serve_apps.api import auth
from serve_apps.api.context import ApiContext, Context
from serve_apps.api.models import Webhook, WebhookCreate, WebhookCreated, WebhookDeliveryPage, WebhookPage
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses
from serve_apps.api.routes.common import Cursor, Limit, sort_of

router = APIRouter(prefix="/v1", tags=["webhooks"], responses=problem_responses(400, 401, 403, 422, 429))
WebhookDeliveriesSort = sort_of(WEBHOOK_DELIVERIES)
WebhookSubscriptionsSort = sort_of(WEBHOOK_SUBSCRIPTIONS)
SubscriptionIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


def is_private_host(host: str) -> bool:
    """Whether a URL's host is a loopback, private, link-local or reserved address (or plainly local)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return not address.is_global


def refuse_private_url(context: ApiContext, host: str, field: str, doing: str) -> None:
    """Refuse a URL the platform would call at a loopback or private address, unless the install allows it.

    Raises:
        ApiProblem: 422 naming ``field``.
    """
    if not context.settings.webhook_allow_private_urls and is_private_host(host):
        raise ApiProblem(
            422,
            "Invalid request",
            f"{doing} {host} (a loopback or private address); set FLEETRAY_WEBHOOK_ALLOW_PRIVATE_URLS=true on a "
            "private install",
            errors=[FieldProblem(field=field, message="a public address")],
        )


@router.get("/webhooks", response_model=WebhookPage, summary="The tenant's webhook subscriptions")
def list_webhooks(
    key: auth.Admin, context: Context, sort: WebhookSubscriptionsSort = None, cursor: Cursor = None, limit: Limit = 100
) -> WebhookPage:
    with context.connection() as conn:
        page = list_page(conn, WEBHOOK_SUBSCRIPTIONS, key.tenant_id, sort=sort, cursor=cursor, limit=limit)
    return WebhookPage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    summary="Call a URL on alerts; deliveries are signed with the secret returned once",
)
def add_webhook(key: auth.Admin, context: Context, body: WebhookCreate) -> WebhookCreated:
    refuse_private_url(context, body.url.host or "", "body.url", "webhook URLs may not point at")
    with context.connection() as conn:
        row, secret = create_subscription(
            conn,
            key.tenant_id,
            str(body.url),
            alert_rules=body.alert_rules,
            min_severity=body.min_severity,
            description=body.description,
        )
    return WebhookCreated(webhook=Webhook(**row), secret=secret)


@router.get(
    "/webhooks/{subscription_id}",
    response_model=Webhook,
    responses=problem_responses(404),
    summary="One webhook subscription",
)
def read_webhook(key: auth.Admin, context: Context, subscription_id: SubscriptionIdPath) -> Webhook:
    with context.connection() as conn:
        return Webhook(**get_subscription(conn, key.tenant_id, subscription_id))


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=204,
    responses=problem_responses(404),
    summary="Stop a subscription (its deliveries stay recorded)",
)
def remove_webhook(key: auth.Admin, context: Context, subscription_id: SubscriptionIdPath) -> Response:
    with context.connection() as conn:
        deactivate_subscription(conn, key.tenant_id, subscription_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=WebhookDeliveryPage,
    responses=problem_responses(404),
    summary="A subscription's deliveries and their outcomes",
)
def list_deliveries(
    key: auth.Admin,
    context: Context,
    subscription_id: SubscriptionIdPath,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    sort: WebhookDeliveriesSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> WebhookDeliveryPage:
    with context.connection() as conn:
        get_subscription(conn, key.tenant_id, subscription_id)
        page = list_page(
            conn,
            WEBHOOK_DELIVERIES,
            key.tenant_id,
            filters={"subscription_id": subscription_id, "status": status},
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return WebhookDeliveryPage(items=page.items, next_cursor=page.next_cursor)
