"""Cleaning schedules for planners: optimise a plan, or check a request and explain what cannot be served."""

from __future__ import annotations

from fastapi import APIRouter

from fleetray.scheduling import ScheduleRequest, ScheduleResult, Validation, validate_request
from fleetray.scheduling.repair import ReoptimizeRequest
from fleetray.scheduling.validate import request_errors
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses

router = APIRouter(prefix="/v1", tags=["schedules"], responses=problem_responses(400, 401, 403, 422, 429))


def _refuse_unreadable(request: ScheduleRequest, max_time_limit_s: float) -> None:
    problems = [FieldProblem(field=f"body.{p.field}", message=p.message) for p in request_errors(request)]
    if request.options.time_limit_s > max_time_limit_s:
        problems.append(FieldProblem(field="body.options.time_limit_s",
                                     message=f"at most {max_time_limit_s:g} s on this platform"))  # fmt: skip
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        raise ApiProblem(422, "Invalid request", detail, errors=problems)


@router.post("/schedules:optimize", response_model=ScheduleResult,
             summary="Plan which robot cleans what and when (OR-Tools), within the request's time limit")  # fmt: skip
async def optimize(request: ScheduleRequest, key: auth.Planner, context: Context) -> ScheduleResult:
    _refuse_unreadable(request, context.settings.schedule_max_time_limit_s)
    return await context.optimize(request)


@router.post("/schedules:validate", response_model=Validation,
             summary="Check a request without solving: errors by field, and tasks no robot can serve")  # fmt: skip
def validate(request: ScheduleRequest, key: auth.Planner) -> Validation:
    return validate_request(request)


@router.post("/schedules:reoptimize", response_model=ScheduleResult,
             summary="Repair a plan after a robot failed, a robot is late, or tasks were added")  # fmt: skip
async def reoptimize_plan(body: ReoptimizeRequest, key: auth.Planner, context: Context) -> ScheduleResult:
    _refuse_unreadable(body.request, context.settings.schedule_max_time_limit_s)
    return await context.reoptimize(body)
