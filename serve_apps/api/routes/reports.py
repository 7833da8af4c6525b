"""Weekly fleet reports: made by the platform's weekly job or on request, served as JSON, HTML or PDF."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from fleetray.errors import ReportError
from fleetray.reports import ReportWeek, weekly_report
from fleetray.reports.figures import WeeklyFigures
from fleetray.storage.reports import list_reports
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=problem_responses(400, 401, 403, 422, 429))
WeekPath = Annotated[
    str,
    Path(
        description="An ISO week (`2026-W48`), `last` (the last full week) or `current` (the week so far).",
        pattern=r"^(\d{4}-W\d{2}|last|current)$",
    ),
]
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class ReportListing(BaseModel):
    week: str
    complete: bool
    generated_at: datetime
    generated_by: str


class ReportList(BaseModel):
    items: list[ReportListing]


@router.get("/weekly", response_model=ReportList, summary="The tenant's stored weekly reports, the latest first")
def list_weekly(key: auth.Reader, context: Context, limit: Annotated[int, Query(ge=1, le=520)] = 52) -> ReportList:
    with context.connection() as conn:
        rows = list_reports(conn, key.tenant_id, "weekly", limit=limit)
    return ReportList(items=[ReportListing(week=row["period"], **row) for row in rows])


@router.get(
    "/weekly/{week}",
    response_model=WeeklyFigures,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}, "description": "The report"},
        **problem_responses(404),
    },
    summary="A weekly fleet report as JSON, HTML or PDF (made now if the week has none stored, or is running)",
)
def read_weekly(
    key: auth.Reader,
    context: Context,
    week: WeekPath,
    format: Annotated[Literal["json", "html", "pdf"], Query(description="What to answer with.")] = "json",
) -> WeeklyFigures | Response:
    now = datetime.now(UTC)
    try:
        chosen = ReportWeek.parse(week, now=now)
    except ReportError as err:
        raise ApiProblem(
            422, "Invalid request", str(err), errors=[FieldProblem(field="path.week", message=str(err))]
        ) from None
    report = weekly_report(context.db, context.store, key.tenant_id, chosen, now=now)
    if format == "json":
        return report.figures
    object_key = report.html_key if format == "html" else report.pdf_key
    filename = f"{key.tenant_id}-{report.figures.week}.{format}"
    return Response(
        context.store.get(object_key),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
