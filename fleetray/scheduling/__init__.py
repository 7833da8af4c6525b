"""Cleaning schedules: which robot does which task when (PyVRP or OR-Tools), with a greedy baseline.

``import fleetray.scheduling`` stays light; OR-Tools is imported when a plan is optimised.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

from fleetray.errors import FleetrayError
from fleetray.scheduling.model import FieldError, ScheduleRequest, ScheduleResult, Validation
from fleetray.scheduling.validate import request_errors, validate_request

if TYPE_CHECKING:
    from fleetray.scheduling.instance import Instance
    from fleetray.scheduling.split import PartRunner

logger = logging.getLogger(__name__)

MAX_PART_TASKS = 20_000  # tasks one engine plans together; larger requests are split by site

__all__ = ["ScheduleRequest", "ScheduleRequestError", "ScheduleResult", "Validation", "solve", "validate_request"]


class ScheduleRequestError(FleetrayError, ValueError):
    """A request names unknown or duplicate things; ``problems`` says where, field by field."""

    def __init__(self, problems: list[FieldError]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def solve(
    request: ScheduleRequest,
    *,
    method: Literal["optimize", "greedy"] = "optimize",
    seed: dict[str, list[str]] | None = None,
    runner: PartRunner | None = None,
    workers: int = 1,
) -> ScheduleResult:
    """Plan ``request``; ``seed`` (robot id -> task ids in order) is a plan to keep where it stays feasible.

    A request spanning several sites, or one very large site, is planned part by part
    (:mod:`fleetray.scheduling.split`): by ``runner`` with ``workers`` parts at a time, else one after another here.

    Raises:
        ScheduleRequestError: the request refers to unknown or duplicate ids, or to capabilities no robot has.
    """
    from fleetray.scheduling.greedy import solve_greedy
    from fleetray.scheduling.instance import compile_request
    from fleetray.scheduling.pyvrp_engine import solve_pyvrp, unfit_reason
    from fleetray.scheduling.routing import solve_routing
    from fleetray.scheduling.split import run_in_process, solve_split, split_request

    problems = request_errors(request)
    if problems:
        raise ScheduleRequestError(problems)
    split = split_request(request)
    oversized = max(len(part.tasks) for part in split.parts) if split.parts else 0
    if oversized > MAX_PART_TASKS:
        raise ScheduleRequestError(
            [
                FieldError(
                    field="tasks",
                    message=f"{oversized} tasks must be planned together (linked by after or same_robot_as, or "
                    f"distances from a matrix); at most {MAX_PART_TASKS}: give locations their site",
                )
            ]
        )
    if len(split.parts) != 1 or split.parts[0] is not request:
        return solve_split(request, split, method, runner or run_in_process, workers if runner else 1, seed)
    instance = compile_request(request)
    seed_routes = None
    if seed:
        task_index = {task.id: i for i, task in enumerate(request.tasks)}
        seed_routes = [[task_index[t] for t in seed.get(robot.id, []) if t in task_index] for robot in request.robots]
    if method == "greedy":
        plan = solve_greedy(instance, seed_routes)
    elif (why := unfit_reason(instance)) is None:
        plan = solve_pyvrp(instance, seed_routes)
    else:
        logger.debug("OR-Tools plans this request: %s", why)
        plan = solve_routing(instance, seed_routes)
    if request.options.lower_bound_s > 0:
        plan = _with_lower_bound(instance, plan)
    return plan


def _with_lower_bound(instance: Instance, plan: ScheduleResult) -> ScheduleResult:
    """The plan with CP-SAT's proven lower bound, and status optimal when the plan meets it."""
    from fleetray.scheduling.bound import BoundUnavailableError, lower_bound

    options = instance.request.options
    started = time.perf_counter()
    try:
        bound = lower_bound(instance, options.lower_bound_s, seed=options.seed, workers=options.workers)
    except BoundUnavailableError as err:
        logger.info("no lower bound: %s", err)
        return plan
    rounding = 1e-3 * (len(instance.tasks) + len(instance.robots))  # the bound rounds each arc's cost down
    return plan.model_copy(
        update={
            "lower_bound": round(bound, 3),
            "status": "optimal" if plan.objective <= bound + rounding else plan.status,
            "solve_time_s": round(plan.solve_time_s + time.perf_counter() - started, 3),
        }
    )
