"""Cleaning schedules: which robot does which task when (OR-Tools), with a greedy baseline.

``import fleetray.scheduling`` stays light; OR-Tools is imported when a plan is optimised.
"""

from __future__ import annotations

from typing import Literal

from fleetray.errors import FleetrayError
from fleetray.scheduling.model import FieldError, ScheduleRequest, ScheduleResult, Validation
from fleetray.scheduling.validate import request_errors, validate_request

__all__ = ["ScheduleRequest", "ScheduleRequestError", "ScheduleResult", "Validation", "solve", "validate_request"]


class ScheduleRequestError(FleetrayError, ValueError):
    """A request names unknown or duplicate things; ``problems`` says where, field by field."""

    def __init__(self, problems: list[FieldError]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def solve(request: ScheduleRequest, *, method: Literal["optimize", "greedy"] = "optimize",
          seed: dict[str, list[str]] | None = None) -> ScheduleResult:  # fmt: skip
    """Plan ``request``; ``seed`` (robot id -> task ids in order) is a plan to keep where it stays feasible.

    Raises:
        ScheduleRequestError: the request refers to unknown or duplicate ids, or to capabilities no robot has.
    """
    from fleetray.scheduling.greedy import solve_greedy
    from fleetray.scheduling.instance import compile_request
    from fleetray.scheduling.routing import solve_routing

    problems = request_errors(request)
    if problems:
        raise ScheduleRequestError(problems)
    instance = compile_request(request)
    seed_routes = None
    if seed:
        task_index = {task.id: i for i, task in enumerate(request.tasks)}
        seed_routes = [[task_index[t] for t in seed.get(robot.id, []) if t in task_index] for robot in request.robots]
    if method == "greedy":
        return solve_greedy(instance, seed_routes)
    return solve_routing(instance, seed_routes)
