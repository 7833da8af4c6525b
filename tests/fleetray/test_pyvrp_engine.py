"""The PyVRP engine: which requests it takes, fewest robots first, plans the evaluator accepts."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from fleetray.scheduling import ScheduleRequest, solve
from fleetray.scheduling.instance import compile_request, evaluate_route
from fleetray.scheduling.pyvrp_engine import unfit_reason


def depot_problem(tasks: int, seed: int, robots: int = 6, robots_used: float = 0.0) -> ScheduleRequest:
    """Windows, tank loads and two depots with robots of two speeds: what PyVRP models exactly."""
    rnd = random.Random(seed)
    return ScheduleRequest.model_validate(
        {
            "horizon_s": 28_800,
            "locations": [
                {"id": "dock-a", "x": 0, "y": 0},
                {"id": "dock-b", "x": 300, "y": 200},
                *({"id": f"spot-{i}", "x": rnd.uniform(0, 300), "y": rnd.uniform(0, 200)} for i in range(tasks)),
            ],
            "robots": [
                {
                    "id": f"r{i}",
                    "start_location": "dock-a" if i % 2 else "dock-b",
                    "speed_m_s": 0.5 if i % 3 else 0.8,
                    "capacity": 30,
                    "availability": {"start": 0, "end": 28_800 if i % 2 else 21_600},
                }
                for i in range(robots)
            ],
            "tasks": [
                {
                    "id": f"t{i}",
                    "location": f"spot-{i}",
                    "duration_s": rnd.randint(300, 900),
                    "demand": rnd.randint(1, 5),
                    "window": {"start": (start := rnd.choice([0, 3600, 10_800])), "end": start + 14_400},
                }
                for i in range(tasks)
            ],
            "objective": {"robots_used": robots_used},
            "options": {"time_limit_s": 2.0},
        }
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_pyvrp_plans_pass_the_evaluator_and_never_lose_to_the_baseline(seed: int) -> None:
    request = depot_problem(60, seed)
    instance = compile_request(request)
    assert unfit_reason(instance) is None
    greedy, plan = solve(request, method="greedy"), solve(request)
    assert plan.solver.startswith("pyvrp") and plan.objective <= greedy.objective
    index = {task.id: i for i, task in enumerate(request.tasks)}
    served = set()
    for itinerary in plan.itineraries:
        robot = next(i for i, r in enumerate(request.robots) if r.id == itinerary.robot_id)
        route = [index[s.task_id] for s in itinerary.stops if s.kind == "task"]
        replayed = evaluate_route(instance, robot, route)
        assert replayed.feasible and replayed.stops == itinerary.stops
        served.update(route)
    assert len(served) + plan.kpis.tasks_dropped == 60


def test_fewest_robots_first_when_the_objective_weighs_them() -> None:
    # Twelve tasks at one spot, one tank load each for a robot of capacity 4: three robots are the fewest.
    request = ScheduleRequest.model_validate(
        {
            "locations": [{"id": "dock", "x": 0, "y": 0}, {"id": "spot", "x": 100, "y": 0}],
            "robots": [{"id": f"r{i}", "start_location": "dock", "capacity": 4} for i in range(8)],
            "tasks": [{"id": f"t{i}", "location": "spot", "duration_s": 60, "demand": 1} for i in range(12)],
            "objective": {"robots_used": 1000},
            "options": {"time_limit_s": 1.0},
        }
    )
    plan = solve(request)
    assert plan.solver == "pyvrp" and plan.kpis.tasks_dropped == 0 and plan.kpis.robots_used == 3


def test_a_solution_limit_makes_the_pyvrp_plan_the_same_on_every_run() -> None:
    request = depot_problem(40, seed=3, robots_used=500)
    request = request.model_copy(
        update={"options": request.options.model_copy(update={"solution_limit": 30, "time_limit_s": 30})}
    )
    first, second = solve(request), solve(request)
    assert first.solver == "pyvrp" and first.itineraries == second.itineraries


@pytest.mark.parametrize(
    ("robots", "tasks", "objective", "reason"),
    [
        (lambda i: {"consumption_per_m": 0.0001}, {}, {}, "robots use charge"),
        (lambda i: {"maintenance": [{"start": 100, "end": 200}]} if i == 0 else {}, {}, {}, "maintenance windows"),
        (lambda i: {"capabilities": ["scrub" if i % 2 else "vacuum"]}, {"capability": "scrub"}, {}, "capabilities"),
        (lambda i: {"cleaning_rate_m2_s": 0.2 + 0.1 * i}, {"area_m2": 100.0, "duration_s": None}, {}, "work depends"),
        (lambda i: {}, {}, {"travel_s": 1.0}, "weighs time"),
    ],
)
def test_what_pyvrp_cannot_model_goes_to_or_tools(
    robots: Callable[[int], dict], tasks: dict, objective: dict, reason: str
) -> None:
    body = depot_problem(8, seed=4).model_dump()
    for number, robot in enumerate(body["robots"]):
        robot.update(robots(number))
    for task in body["tasks"]:
        task.update(tasks)
    body["objective"].update(objective)
    body["options"]["time_limit_s"] = 0.5
    request = ScheduleRequest.model_validate(body)
    assert reason in unfit_reason(compile_request(request))
    assert not solve(request).solver.startswith("pyvrp")
