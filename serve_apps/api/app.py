"""The FastAPI application: routers under /v1, problem details, protection, /metrics, /healthz and /readyz."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleetray.config import Settings, get_settings
from serve_apps.api import health
from serve_apps.api.context import ApiContext
from serve_apps.api.problems import Problem, install_problem_handlers
from serve_apps.api.protection import ApiMetrics, ProtectionMiddleware
from serve_apps.api.routes import (
    account,
    agents,
    alert_rules,
    bag_index,
    bags,
    connectors,
    device,
    fleet,
    models,
    records,
    releases,
    reports,
    schedules,
    state,
    stream,
    webhooks,
)
from serve_apps.dashboard import mount_dashboard

API_VERSION = "1.0.0"
DESCRIPTION = """\
The fleetray REST API: a tenant's fleet, its live state and history, alerts and records.

Authenticate with an API key (`Authorization: Bearer fr_...`). Keys carry a role: **admin**,
**operator**, **planner**, **viewer** or **device** (device keys reach only `/v1/device`).
Errors are RFC 9457 problem documents (`application/problem+json`). Listings are paged by cursor:
pass the `next_cursor` of a page to get the next one.
"""


def create_app(context: ApiContext | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The API application.

    ``context`` may also be attached later as ``app.state.context`` (each Serve replica does);
    ``settings`` (by default the context's) set the body size limit and the request timeout.
    """
    app = FastAPI(
        title="fleetray",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = context
    routers = (account, fleet, state, records, schedules, webhooks, device, bags, bag_index, connectors, stream, models)
    for module in (*routers, alert_rules, agents, releases, reports):
        app.include_router(module.router)
    app.include_router(health.router)
    mount_dashboard(app)
    install_problem_handlers(app)
    metrics = ApiMetrics()
    settings = settings or (context.settings if context is not None else get_settings())
    app.add_middleware(
        ProtectionMiddleware,
        max_body_bytes=settings.api_max_body_bytes,
        timeout_s=settings.api_request_timeout_s,
        # A schedule may take as long as its request asks (within the platform's limit), plus a margin.
        # Bag parts and their assembly on the local store move up to gigabytes.
        long_requests={
            "/v1/schedules": settings.schedule_max_time_limit_s + 30,
            "/v1/uploads/": 600,
            "/v1/device/bags": 600,
        },
        # A bag part, PUT to a presigned local URL; an agent release (a wheel); a fleet-wide schedule.
        large_bodies={
            "/v1/schedules": settings.schedule_max_body_bytes,
            "/v1/uploads/": bags.PART_BYTES,
            "/v1/agent/releases": releases.MAX_RELEASE_BYTES * 4 // 3 + 4096,
        },
        metrics=metrics,
    )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, definition in schema["components"]["schemas"]["Problem"].pop("$defs", {}).items():
                schema["components"]["schemas"].setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
