"""The second engine: PyVRP's iterated local search, for the requests its model holds exactly.

PyVRP is the state of the art on the classic problems (time windows, capacities, several robot kinds
with their own depots, shifts and speeds, optional tasks with a prize). OR-Tools stays the engine for
what PyVRP does not model: charging and energy, maintenance breaks, precedence and pairing, soft due
times, capabilities, and objectives on time (travel, makespan, balance, risk). :func:`unfit_reason`
says which engine a request needs.

Fewest robots first: when the objective weighs robots used, each route-elimination round takes the
fleet one robot smaller, starts from the best plan with its shortest route removed, and lets the
search re-insert that route's tasks under PyVRP's penalties (a task left out costs its drop penalty).
A round that finds no cheaper plan ends the elimination; the rest of the time goes to distance.

Whatever the engine finds, the routes are scheduled and priced by the one route evaluator
(:func:`fleetray.scheduling.instance.evaluate_route`), as every solver's are.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fleetray.scheduling.greedy import InfeasiblePlanError, build_result, greedy_routes
from fleetray.scheduling.instance import Instance, drop_penalty
from fleetray.scheduling.model import ScheduleResult

if TYPE_CHECKING:
    import pyvrp

logger = logging.getLogger(__name__)

DISTANCE_SCALE = 10  # decimetres: PyVRP works in integers
MAX_NODES = 3000  # dense matrices of this many locations take 2 x 72 MB; larger requests are split by site first
ELIMINATION_SHARE = 0.6  # of the time limit, at most, for taking robots out; the rest improves distance
ROUND_SHARE = 0.15  # of the time limit, per elimination round
STALL_ITERATIONS = 2_000  # with a solution limit, a phase also ends after this many iterations without improving


def unfit_reason(instance: Instance) -> str | None:
    """Why PyVRP's model cannot hold this request exactly (None: it can)."""
    request, weights = instance.request, instance.request.objective
    robots, tasks = instance.robots, instance.tasks
    checks = [
        (any(r.consumption_per_m or r.consumption_per_min_work for r in robots), "robots use charge"),
        (any(r.maintenance for r in robots), "robots have maintenance windows"),
        (any(t.after or t.same_robot_as for t in tasks), "tasks have precedence or pairing"),
        (any(t.due_s is not None for t in tasks) and weights.lateness_s > 0, "tasks have soft due times"),
        (not all(all(row) for row in instance.compatible), "tasks need capabilities some robots lack"),
        (weights.travel_s or weights.makespan_s or weights.balance_s, "the objective weighs time"),
        (weights.risk and any(r.failure_risk for r in robots), "the objective weighs failure risk"),
        (weights.distance_m <= 0, "the objective does not weigh distance"),
        (any(len(set(column)) > 1 for column in zip(*instance.durations, strict=True)), "work depends on the robot"),
        (len(request.locations) > MAX_NODES, f"more than {MAX_NODES} locations"),
    ]
    return next((reason for broken, reason in checks if broken), None)


@dataclass
class _Model:
    """The request as PyVRP's problem data, and the way back from its indices to ours."""

    data: pyvrp.ProblemData
    type_robots: list[list[int]]  # per vehicle type, our robots of that type
    client_task: list[int]  # per PyVRP client, our task


def _problem(instance: Instance) -> _Model:
    import pyvrp

    request, weights = instance.request, instance.request.objective
    # Costs are in decimetres of distance at the distance weight; drop penalties and robots in the same unit.
    unit = DISTANCE_SCALE / weights.distance_m
    places = [pyvrp.Location(x=loc.x, y=loc.y, name=loc.id) for loc in request.locations]
    if instance.distance_m is not None:
        distance = np.array(instance.distance_m, dtype=np.float64)
    else:
        xy = np.array(instance.coordinates, dtype=np.float64)
        distance = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    depot_places = sorted({*instance.robot_start, *instance.robot_end})
    depot_of = {place: k for k, place in enumerate(depot_places)}
    depots = [pyvrp.Depot(location=place, name=request.locations[place].id) for place in depot_places]

    speeds = sorted({robot.speed_m_s for robot in instance.robots})
    groups: dict[tuple, list[int]] = {}
    for r, robot in enumerate(instance.robots):
        key = (
            instance.robot_start[r],
            instance.robot_end[r],
            robot.capacity,
            instance.availability(r),
            robot.speed_m_s,
        )
        groups.setdefault(key, []).append(r)
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=len(members),
            capacity=[capacity],
            start_depot=depot_of[start],
            end_depot=depot_of[end],
            fixed_cost=math.ceil(weights.robots_used * unit),
            tw_early=available[0],
            tw_late=available[1],
            profile=speeds.index(speed),
            name=",".join(instance.robots[r].id for r in members[:3]),
        )
        for (start, end, capacity, available, speed), members in groups.items()
    ]

    clients, client_task = [], []
    for t, task in enumerate(instance.tasks):
        work = instance.durations[0][t]
        early, late = instance.window(t)
        if late - work < early:
            continue  # cannot be done in its window by anyone: dropped, with the reason, by the evaluator
        clients.append(
            pyvrp.Client(
                location=instance.task_location[t],
                delivery=[task.demand],
                service_duration=work,
                tw_early=early,
                tw_late=late - work,  # PyVRP's window bounds the start of service, ours its end
                prize=math.ceil(drop_penalty(task) * weights.dropped * unit),
                required=False,
                name=task.id,
            )
        )
        client_task.append(t)
    distances = np.rint(distance * DISTANCE_SCALE).astype(np.int64)
    durations = [np.ceil(distance / speed).astype(np.int64) for speed in speeds]  # as the evaluator rounds travel
    data = pyvrp.ProblemData(places, clients, depots, vehicle_types, [distances] * len(speeds), durations)
    return _Model(data, list(groups.values()), client_task)


class _Improvements:
    """Stops after ``limit`` improving solutions: with a seed, the same plan on every run."""

    def __init__(self, limit: int) -> None:
        self.limit, self.seen, self.best = limit, 0, math.inf

    def __call__(self, best_cost: float) -> bool:
        if best_cost < self.best:
            self.best, self.seen = best_cost, self.seen + 1
        return self.seen >= self.limit


def pyvrp_routes(instance: Instance, time_limit_s: float, solution_limit: int | None = None) -> list[list[int]]:
    """Each robot's tasks in order, from PyVRP within ``time_limit_s`` (route elimination first, then distance)."""
    import pyvrp
    from pyvrp.exceptions import PenaltyBoundWarning
    from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

    started = time.perf_counter()
    model = _problem(instance)
    data = model.data
    if not model.client_task:
        return [[] for _ in instance.robots]

    # With a solution limit every phase ends by counting (improvements, or iterations without one), never by
    # the clock, so the same request gets the same plan; the time limit stays a backstop.
    counted = solution_limit is not None

    def stop(seconds: float) -> pyvrp.stop.StoppingCriterion:
        runtime = MaxRuntime(max(0.05, seconds))
        if not counted:
            return runtime
        return MultipleCriteria([runtime, _Improvements(solution_limit), NoImprovement(STALL_ITERATIONS)])

    def solve(problem: pyvrp.ProblemData, seconds: float, start: pyvrp.Solution | None) -> pyvrp.Solution:
        with warnings.catch_warnings():
            # PyVRP warns when its penalties reach their cap, as they do while a fleet one robot too small is
            # tried: that round's answer is judged on its cost like any other.
            warnings.simplefilter("ignore", PenaltyBoundWarning)
            result = pyvrp.solve(
                problem, stop(seconds), seed=0, collect_stats=False, display=False, initial_solution=start
            )
        return result.best

    def remaining() -> float:
        return time_limit_s - (time.perf_counter() - started)

    best = solve(data, remaining() * (1 - ELIMINATION_SHARE), None)
    eliminate = instance.request.objective.robots_used > 0 and len(data.vehicle_types()) == 1
    elimination_ends = started + time_limit_s * ELIMINATION_SHARE
    while eliminate and best.is_feasible() and best.num_routes() > 1:
        if not counted and time.perf_counter() >= elimination_ends:
            break
        fewer = data.replace(vehicle_types=[data.vehicle_type(0).replace(num_available=best.num_routes() - 1)])
        routes = sorted(best.routes(), key=lambda route: route.num_clients())
        kept = [_visits(route) for route in routes[1:]]  # the shortest route's tasks are re-inserted
        round_s = remaining() if counted else min(time_limit_s * ROUND_SHARE, elimination_ends - time.perf_counter())
        candidate = solve(fewer, round_s, pyvrp.Solution(fewer, kept))
        cost = pyvrp.CostEvaluator([0], 0, 0)
        if not candidate.is_feasible() or cost.cost(candidate) >= cost.cost(best):
            break
        best, data = candidate, fewer
    if counted or remaining() > 0.05:
        best = solve(data, remaining(), best)
    return _our_routes(instance, model, best)


def solve_pyvrp(instance: Instance, seed_routes: list[list[int]] | None = None) -> ScheduleResult:
    """PyVRP's plan within the request's time limit, checked by the evaluator; never worse than the greedy one."""
    started = time.perf_counter()
    options = instance.request.options
    baseline, baseline_dropped = greedy_routes(instance, seed_routes)
    routes = pyvrp_routes(instance, options.time_limit_s - (time.perf_counter() - started), options.solution_limit)
    planned = {t for route in routes for t in route}
    crowded_out = "no room for it in any robot's time or capacity beside the tasks planned"
    dropped = {t: crowded_out for t in range(len(instance.tasks)) if t not in planned}
    elapsed = time.perf_counter() - started
    greedy = build_result(
        instance, baseline, baseline_dropped, solver="pyvrp (greedy kept)", status="feasible", solve_time_s=elapsed
    )
    try:
        found = build_result(instance, routes, dropped, solver="pyvrp", status="feasible", solve_time_s=elapsed)
    except InfeasiblePlanError as err:  # the evaluator is the judge: a plan it refuses is never handed out
        logger.warning("PyVRP's plan was refused (%s); the greedy plan stands", err)
        return greedy
    return found if found.objective <= greedy.objective else greedy


def _our_routes(instance: Instance, model: _Model, solution: pyvrp.Solution) -> list[list[int]]:
    routes: list[list[int]] = [[] for _ in instance.robots]
    free = [list(members) for members in model.type_robots]
    for route in solution.routes():
        robot = free[route.vehicle_type()].pop(0)
        routes[robot] = [model.client_task[client] for client in _visits(route)]
    return routes


def _visits(route: pyvrp.Route) -> list[int]:
    return [activity.idx for activity in route if activity.is_client()]
