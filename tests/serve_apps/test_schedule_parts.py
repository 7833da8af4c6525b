"""The parts of a large request solved as Ray tasks, and what happens to parts that come back too late."""

from __future__ import annotations

import pytest

from fleetray.scheduling import solve
from fleetray.sim.schedules import schedule_problem

pytestmark = pytest.mark.slow


def test_parts_solved_as_ray_tasks_make_one_plan_never_worse_than_greedy(ray_session: None) -> None:
    from serve_apps.schedules.parts import RayPartRunner

    request = schedule_problem(8, 60, seed=11, time_limit_s=4, sites=4)
    runner = RayPartRunner(request.options.time_limit_s)
    assert runner.workers >= 1
    plan, greedy = solve(request, runner=runner, workers=runner.workers), solve(request, method="greedy")
    assert plan.solver.startswith("4 parts: ") and "ortools-routing" in plan.solver
    assert plan.objective <= greedy.objective and plan.kpis.tasks_planned + plan.kpis.tasks_dropped == 60


def test_parts_not_back_by_the_deadline_are_planned_greedily(ray_session: None) -> None:
    from serve_apps.schedules.parts import RayPartRunner

    request = schedule_problem(8, 60, seed=12, time_limit_s=4, sites=4)
    runner = RayPartRunner(request.options.time_limit_s)
    runner.deadline_s = 0.0  # as if the cluster had lost the workers solving them
    plan = solve(request, runner=runner, workers=max(1, runner.workers))
    assert plan.solver == "4 parts: 4 x greedy-insertion"
    assert plan == solve(request, method="greedy").model_copy(update={"solve_time_s": plan.solve_time_s})
