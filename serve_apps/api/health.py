"""Probes for load balancers and Kubernetes: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

Ready means the database answers and its schema is this code's (no migration pending). The live shards
are reported but do not decide: without them the API still serves what is stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from fleetray.errors import DatabaseUnreachableError
from fleetray.storage.migrations import available_migrations

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    context = request.app.state.context
    checks: dict[str, Any] = {}
    try:
        applied = await run_in_threadpool(_applied_migrations, context)
    except DatabaseUnreachableError as err:
        checks["database"] = str(err)
        return JSONResponse({"status": "not ready", "checks": checks}, 503)
    checks["database"] = "ok"
    pending = [m.version for m in available_migrations() if m.version not in applied]
    checks["migrations"] = "ok" if not pending else f"{len(pending)} pending: run `fleetray db migrate`"
    shards = await context.live.shards()
    checks["shards"] = f"{len(shards)} running" if shards else "none running: state is served as last stored"
    ready = not pending
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


def _applied_migrations(context: Any) -> set[int]:
    with context.connection() as conn:
        return {version for (version,) in conn.execute("SELECT version FROM schema_migrations")}
