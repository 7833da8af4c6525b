"""The greedy insertion baseline: each task, most urgent first, goes where it costs least.

It is the yardstick the optimiser is measured against, and a fallback that answers at once.
"""

from __future__ import annotations

import heapq
import time

from fleetray.errors import FleetrayError
from fleetray.scheduling.insertion import build_slack, inserted, insertion
from fleetray.scheduling.instance import Instance, RouteOutcome, evaluate_route, itineraries, plan_cost, served
from fleetray.scheduling.model import DroppedTask, Kpis, ScheduleResult
from fleetray.scheduling.validate import unservable_reason

NEAREST_ROBOTS = 20  # in large fleets, a task is tried on the robots working nearest to it


class InfeasiblePlanError(FleetrayError):
    """A solver's plan breaks a hard constraint when re-checked (a bug in that solver's model)."""


def _kind(instance: Instance, robot: int) -> tuple:
    """What makes two idle robots plan alike: where they start and end, and everything about them but their id."""
    spec = instance.robots[robot]
    return (instance.robot_start[robot], instance.robot_end[robot], spec.model_dump_json(exclude={"id"}))


def _nearness(instance: Instance, robot: int, last_task: int | None, place: int) -> float:
    """How far ``place`` is from the robot's dock or its last planned task, whichever is nearer."""
    near = instance.distance(instance.robot_start[robot], place)
    return near if last_task is None else min(near, instance.distance(instance.task_location[last_task], place))


def _insertion_cost(instance: Instance, before: RouteOutcome, after: RouteOutcome, was_empty: bool) -> float:
    weights = instance.request.objective
    return (
        weights.distance_m * (after.distance_m - before.distance_m)
        + weights.travel_s * (after.travel_s - before.travel_s)
        + weights.lateness_s * (after.lateness_s - before.lateness_s)
        + weights.balance_s * (after.span_s - before.span_s)
        + weights.risk * (after.risk - before.risk)
        + (weights.robots_used if was_empty else 0.0)
    )


def greedy_routes(
    instance: Instance, seed_routes: list[list[int]] | None = None
) -> tuple[list[list[int]], dict[int, str]]:
    """Driven routes (charging stops included) built by cheapest insertion, and the dropped tasks with the last
    reason each was refused.

    ``seed_routes`` (a previous plan's order) are kept as far as they stay feasible; the rest is inserted.
    """
    robots = range(len(instance.robots))
    outcomes: list[RouteOutcome] = []
    for robot in robots:
        kept = list(seed_routes[robot]) if seed_routes and robot < len(seed_routes) else []
        outcome = evaluate_route(instance, robot, kept, with_stops=False)
        while kept and not outcome.feasible:
            kept.pop()
            outcome = evaluate_route(instance, robot, kept, with_stops=False)
        outcomes.append(outcome)
    routes = [outcome.visits if outcome.feasible else [] for outcome in outcomes]
    placed = {t for route in routes for t in served(route)}
    dropped: dict[int, str] = {}

    def urgency(task: int) -> tuple[int, int, int]:
        return -instance.tasks[task].priority, instance.window(task)[1], instance.window(task)[0]

    order = sorted((t for t in range(len(instance.tasks)) if t not in placed), key=urgency)
    # Robots without maintenance windows are checked in constant time per position; the others by replay.
    slacks = [
        build_slack(instance, r, routes[r]) if not instance.robots[r].maintenance and outcomes[r].feasible else None
        for r in robots
    ]
    anchors = [served(routes[r])[-1] if served(routes[r]) else None for r in robots]
    weights = instance.request.objective
    for task in order:
        here = instance.task_location[task]
        candidates = [r for r in robots if instance.compatible[r][task] and outcomes[r].feasible]
        if len(candidates) > NEAREST_ROBOTS:
            # The busy robots working nearest, and one idle robot of each kind: idle twins would fare alike.
            busy = [r for r in candidates if anchors[r] is not None]
            idle = {_kind(instance, r): r for r in reversed(candidates) if anchors[r] is None}
            nearness = {r: _nearness(instance, r, anchors[r], here) for r in busy}
            candidates = [*heapq.nsmallest(NEAREST_ROBOTS, busy, key=nearness.__getitem__), *idle.values()]
        best: tuple[float, int, int, int | None] | None = None
        reason = "no robot could fit it"
        for robot in candidates:
            route, slack = routes[robot], slacks[robot]
            risk = weights.risk * instance.durations[robot][task] * instance.robots[robot].failure_risk
            opening = weights.robots_used if anchors[robot] is None else 0.0
            for position in range(len(route) + 1):
                if slack is not None:
                    found = insertion(instance, slack, task, position)
                    if found is None:
                        reason = "no robot could fit it within its windows, capacity and charge"
                        continue
                    cost = weights.distance_m * found.extra_m + weights.travel_s * found.extra_s + risk + opening
                    charger = found.charger
                else:
                    candidate = evaluate_route(instance, robot, inserted(route, task, position, None), with_stops=False)
                    if not candidate.feasible:
                        reason = candidate.reason
                        continue
                    cost, charger = _insertion_cost(instance, outcomes[robot], candidate, anchors[robot] is None), None
                if best is None or cost < best[0]:
                    best = (cost, robot, position, charger)
        if best is None or best[0] > weights.dropped * instance.penalties[task]:
            dropped[task] = reason if best is None else "serving it would cost more than dropping it"
            continue
        _, robot, position, charger = best
        outcome = evaluate_route(instance, robot, inserted(routes[robot], task, position, charger), with_stops=False)
        if not outcome.feasible:  # the constant-time check and the replay disagree: trust the replay
            dropped[task] = outcome.reason
            continue
        routes[robot], outcomes[robot], anchors[robot] = outcome.visits, outcome, task
        if slacks[robot] is not None:
            slacks[robot] = build_slack(instance, robot, outcome.visits)
    return routes, dropped


def solve_greedy(instance: Instance, seed_routes: list[list[int]] | None = None) -> ScheduleResult:
    """The baseline's plan."""
    started = time.perf_counter()
    routes, dropped = greedy_routes(instance, seed_routes)
    return build_result(
        instance,
        routes,
        dropped,
        solver="greedy-insertion",
        status="feasible",
        solve_time_s=time.perf_counter() - started,
    )


def build_result(
    instance: Instance,
    routes: list[list[int]],
    dropped: dict[int, str],
    *,
    solver: str,
    status: str,
    solve_time_s: float,
    lower_bound: float | None = None,
) -> ScheduleResult:
    """The answer for a plan, evaluated and priced the same way whichever solver made it.

    A dropped task that no robot could serve even alone is explained by what stops each robot.
    """
    outcomes = [evaluate_route(instance, robot, route) for robot, route in enumerate(routes)]
    broken = [o.reason for o in outcomes if not o.feasible]
    if broken:
        raise InfeasiblePlanError(f"{solver} produced a plan that breaks a hard constraint: {broken[0]}")
    used = [o for o, route in zip(outcomes, routes, strict=True) if served(route)]
    kpis = Kpis(
        tasks_planned=sum(len(served(route)) for route in routes),
        tasks_dropped=len(dropped),
        robots_used=len(used),
        charging_stops=sum(len(o.visits) - len(served(o.visits)) for o in used),
        distance_m=round(sum(o.distance_m for o in used), 1),
        travel_s=sum(o.travel_s for o in used),
        makespan_s=max((o.end_s for o in used), default=0),
    )
    return ScheduleResult(
        status=status,
        solver=solver,
        objective=round(plan_cost(instance, outcomes, routes, list(dropped)), 3),
        lower_bound=lower_bound,
        solve_time_s=round(solve_time_s, 3),
        itineraries=[i for i, route in zip(itineraries(instance, outcomes), routes, strict=True) if served(route)],
        dropped=[
            DroppedTask(task_id=instance.tasks[t].id, reason=unservable_reason(instance, t) or reason)
            for t, reason in sorted(dropped.items())
        ],
        kpis=kpis,
    )
