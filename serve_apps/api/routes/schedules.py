"""Cleaning schedules for planners: optimise a plan, or check a request and explain what cannot be served."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from fleetray.scheduling import ScheduleRequest, ScheduleResult, Validation, validate_request
from fleetray.scheduling.repair import ReoptimizeRequest
from fleetray.scheduling.validate import request_errors
from fleetray.storage.schedule_jobs import create_job, get_job
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses

router = APIRouter(prefix="/v1", tags=["schedules"], responses=problem_responses(400, 401, 403, 422, 429))


def _refuse_unreadable(request: ScheduleRequest, max_time_limit_s: float) -> None:
    problems = [FieldProblem(field=f"body.{p.field}", message=p.message) for p in request_errors(request)]
    if request.options.time_limit_s > max_time_limit_s:
        problems.append(
            FieldProblem(field="body.options.time_limit_s", message=f"at most {max_time_limit_s:g} s on this platform")
        )
    elif request.options.time_limit_s + 3 * request.options.lower_bound_s > max_time_limit_s:
        # The bound's wall-clock time is capped at three times its budget: the whole solve must fit the limit.
        problems.append(
            FieldProblem(
                field="body.options.lower_bound_s",
                message=(
                    f"with time_limit_s, at most {(max_time_limit_s - request.options.time_limit_s) / 3:g} s "
                    "on this platform"
                ),
            )
        )
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        raise ApiProblem(422, "Invalid request", detail, errors=problems)


@router.post(
    "/schedules:optimize",
    response_model=ScheduleResult,
    summary="Plan which robot cleans what and when (OR-Tools), within the request's time limit",
)
async def optimize(request: ScheduleRequest, key: auth.Planner, context: Context) -> ScheduleResult:
    _refuse_unreadable(request, context.settings.schedule_max_time_limit_s)
    return await context.optimize(request)


@router.post(
    "/schedules:validate",
    response_model=Validation,
    summary="Check a request without solving: errors by field, and tasks no robot can serve",
)
def validate(request: ScheduleRequest, key: auth.Planner) -> Validation:
    return validate_request(request)


@router.post(
    "/schedules:reoptimize",
    response_model=ScheduleResult,
    summary="Repair a plan after a robot failed, a robot is late, or tasks were added",
)
async def reoptimize_plan(body: ReoptimizeRequest, key: auth.Planner, context: Context) -> ScheduleResult:
    _refuse_unreadable(body.request, context.settings.schedule_max_time_limit_s)
    return await context.reoptimize(body)


class ScheduleJob(BaseModel):
    """A schedule solved in the background: poll ``status_url`` until the status is done or failed."""

    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    status_url: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: ScheduleResult | None = None
    error: str | None = None


def _job(row: dict[str, Any]) -> ScheduleJob:
    return ScheduleJob(
        job_id=row["job_id"],
        status=row["status"],
        status_url=f"/v1/schedules/jobs/{row['job_id']}",
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        error=row["error"],
    )


@router.post(
    "/schedules/jobs",
    response_model=ScheduleJob,
    status_code=202,
    summary="Solve a long schedule in the background; the answer says where to poll",
)
async def submit_job(request: ScheduleRequest, key: auth.Planner, context: Context, response: Response) -> ScheduleJob:
    _refuse_unreadable(request, context.settings.schedule_max_time_limit_s)

    def store() -> dict[str, Any]:
        with context.connection() as conn:
            return create_job(conn, key.tenant_id, request.model_dump(mode="json"))

    job = _job(await run_in_threadpool(store))
    context.start_job(job.job_id, request)
    response.headers["Location"] = job.status_url
    return job


@router.get(
    "/schedules/jobs/{job_id}",
    response_model=ScheduleJob,
    responses=problem_responses(404),
    summary="A schedule job's status, and its plan once done",
)
def read_job(
    job_id: Annotated[str, Path(pattern=r"^job_[0-9a-f]{16}$")], key: auth.Reader, context: Context
) -> ScheduleJob:
    with context.connection() as conn:
        return _job(get_job(conn, key.tenant_id, job_id))
