"""Live state of one robot or the fleet, and a robot's telemetry history (JSON, CSV or Parquet)."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from fleetray.schemas import RobotStatus
from fleetray.storage.fleet import get_robot
from fleetray.storage.history import Resolution, history_page
from fleetray.storage.paging import Page, PagingError, decode_cursor, encode_cursor
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.models import FleetState, HistoryPage, LiveState
from serve_apps.api.problems import problem_responses
from serve_apps.api.routes.common import Cursor, End, Limit, RobotIdPath, SiteIdQuery, Start, time_range

router = APIRouter(prefix="/v1", tags=["state"], responses=problem_responses(400, 401, 403, 422, 429))

MAX_DOWNLOAD_ROWS = 100_000
MetricName = Annotated[str, Query(pattern=r"^[a-z][a-z0-9_.]{0,127}$")]


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


@router.get(
    "/robots/{robot_id}/state",
    response_model=LiveState,
    responses=problem_responses(404, 503),
    summary="A robot's live state",
)
async def robot_state(key: auth.Reader, context: Context, robot_id: RobotIdPath) -> dict[str, Any]:
    return await context.live.robot(key.tenant_id, robot_id)


@router.get(
    "/fleet/state",
    response_model=FleetState,
    responses=problem_responses(503),
    summary="The live state of the tenant's robots, by robot id",
)
async def fleet_state(
    key: auth.Reader,
    context: Context,
    site_id: SiteIdQuery = None,
    status: RobotStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> FleetState:
    states = await context.live.fleet(key.tenant_id, site_id=site_id, status=status.value if status else None)
    if cursor:
        after = decode_cursor(cursor, "robot_id", 1)[0]
        states = [s for s in states if s["robot_id"] > str(after)]
    page, rest = states[:limit], states[limit:]
    return FleetState(items=page, next_cursor=encode_cursor("robot_id", [page[-1]["robot_id"]]) if rest else None)


@router.get(
    "/robots/{robot_id}/telemetry",
    response_model=HistoryPage,
    responses={**problem_responses(404, 503), 200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
    summary="A robot's telemetry history: raw samples, or 1-minute / 1-hour rollups",
)
def telemetry_history(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdPath,
    start: Start = None,
    end: End = None,
    resolution: Resolution = Resolution.RAW,
    metric: Annotated[
        list[MetricName] | None,
        Query(max_length=50, description="Rollup series, e.g. `battery.soc`; default: all. Ignored for raw samples."),
    ] = None,
    format: Format = Format.JSON,
    cursor: Cursor = None,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_DOWNLOAD_ROWS,
            description="Rows per page; default 1,000 (JSON, at most 1,000) or 100,000 (CSV, Parquet).",
        ),
    ] = None,
) -> Any:
    first, last = time_range(start, end, required=True)
    assert first is not None and last is not None
    download = format is not Format.JSON
    max_rows = MAX_DOWNLOAD_ROWS if download else 1000
    rows = limit or max_rows
    if rows > max_rows:
        raise PagingError("limit", f"limit must be between 1 and {max_rows} for {format.value}, got {rows}")
    with context.connection() as conn:
        get_robot(conn, key.tenant_id, robot_id)
        page = history_page(
            conn,
            key.tenant_id,
            robot_id,
            resolution=resolution,
            start=first,
            end=last,
            metrics=metric,
            cursor=cursor,
            limit=rows,
            max_limit=max_rows,
        )
    if not download:
        return HistoryPage(
            robot_id=robot_id, resolution=resolution.value, items=page.items, next_cursor=page.next_cursor
        )
    return _download(page, robot_id, resolution, format)


def _download(page: Page, robot_id: str, resolution: Resolution, format: Format) -> Response:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = [_flat(row) for row in page.items]
    columns = dict.fromkeys(name for row in rows for name in row)  # samples may differ in their components
    table = pa.table({name: [row.get(name) for row in rows] for name in columns})
    sink = io.BytesIO()
    if format is Format.CSV:
        pacsv.write_csv(table, sink)
        media_type = "text/csv"
    else:
        pq.write_table(table, sink, compression="zstd")
        media_type = "application/vnd.apache.parquet"
    headers = {"Content-Disposition": f'attachment; filename="{robot_id}-{resolution.value}.{format.value}"'}
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    return Response(sink.getvalue(), media_type=media_type, headers=headers)


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON columns (components, system, metrics) as dotted columns, as a spreadsheet wants them."""
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat
