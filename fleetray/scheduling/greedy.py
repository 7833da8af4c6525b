"""The greedy insertion baseline: each task, most urgent first, goes where it costs least.

It is the yardstick the optimiser is measured against, and a fallback that answers at once.
"""

from __future__ import annotations

import time

from fleetray.errors import FleetrayError
from fleetray.scheduling.instance import Instance, RouteOutcome, evaluate_route, itineraries, plan_cost
from fleetray.scheduling.model import DroppedTask, Kpis, ScheduleResult
from fleetray.scheduling.validate import unservable_reason


class InfeasiblePlanError(FleetrayError):
    """A solver's plan breaks a hard constraint when re-checked (a bug in that solver's model)."""


def _insertion_cost(instance: Instance, before: RouteOutcome, after: RouteOutcome, was_empty: bool) -> float:
    weights = instance.request.objective
    return (weights.distance_m * (after.distance_m - before.distance_m)
            + weights.travel_s * (after.travel_s - before.travel_s)
            + weights.lateness_s * (after.lateness_s - before.lateness_s)
            + weights.balance_s * (after.span_s - before.span_s)
            + weights.risk * (after.risk - before.risk)
            + (weights.robots_used if was_empty else 0.0))  # fmt: skip


def greedy_routes(instance: Instance, seed_routes: list[list[int]] | None = None) -> tuple[list[list[int]],
                                                                                         dict[int, str]]:  # fmt: skip
    """Routes built by cheapest insertion, and the dropped tasks with the last reason each was refused.

    ``seed_routes`` (a previous plan's order) are kept as far as they stay feasible; the rest is inserted.
    """
    robots = range(len(instance.robots))
    routes: list[list[int]] = [[] for _ in robots]
    for robot, seeded in enumerate(seed_routes or []):
        kept = list(seeded)
        while kept and not evaluate_route(instance, robot, kept, with_stops=False).feasible:
            kept.pop()
        routes[robot] = kept
    outcomes = [evaluate_route(instance, r, routes[r], with_stops=False) for r in robots]
    placed = {t for route in routes for t in route}
    dropped: dict[int, str] = {}

    def urgency(task: int) -> tuple[int, int, int]:
        return -instance.tasks[task].priority, instance.window(task)[1], instance.window(task)[0]

    order = sorted((t for t in range(len(instance.tasks)) if t not in placed), key=urgency)
    for task in order:
        best: tuple[float, int, int, RouteOutcome] | None = None
        reason = "no robot could fit it"
        for robot in robots:
            if not instance.compatible[robot][task] or not outcomes[robot].feasible:
                continue
            route = routes[robot]
            for position in range(len(route) + 1):
                candidate = evaluate_route(instance, robot, [*route[:position], task, *route[position:]],
                                           with_stops=False)  # fmt: skip
                if not candidate.feasible:
                    reason = candidate.reason
                    continue
                cost = _insertion_cost(instance, outcomes[robot], candidate, not route)
                if best is None or cost < best[0]:
                    best = (cost, robot, position, candidate)
        if best is None or best[0] > instance.request.objective.dropped * instance.penalties[task]:
            dropped[task] = reason if best is None else "serving it would cost more than dropping it"
            continue
        _, robot, position, candidate = best
        routes[robot].insert(position, task)
        outcomes[robot] = candidate
    return routes, dropped


def solve_greedy(instance: Instance, seed_routes: list[list[int]] | None = None) -> ScheduleResult:
    """The baseline's plan."""
    started = time.perf_counter()
    routes, dropped = greedy_routes(instance, seed_routes)
    return build_result(instance, routes, dropped, solver="greedy-insertion", status="feasible",
                        solve_time_s=time.perf_counter() - started)  # fmt: skip


def build_result(instance: Instance, routes: list[list[int]], dropped: dict[int, str], *, solver: str, status: str,
                 solve_time_s: float, lower_bound: float | None = None) -> ScheduleResult:  # fmt: skip
    """The answer for a plan, evaluated and priced the same way whichever solver made it.

    A dropped task that no robot could serve even alone is explained by what stops each robot.
    """
    outcomes = [evaluate_route(instance, robot, route) for robot, route in enumerate(routes)]
    broken = [o.reason for o in outcomes if not o.feasible]
    if broken:
        raise InfeasiblePlanError(f"{solver} produced a plan that breaks a hard constraint: {broken[0]}")
    used = [o for o, route in zip(outcomes, routes, strict=True) if route]
    kpis = Kpis(tasks_planned=sum(len(route) for route in routes), tasks_dropped=len(dropped), robots_used=len(used),
                distance_m=round(sum(o.distance_m for o in used), 1), travel_s=sum(o.travel_s for o in used),
                makespan_s=max((o.end_s for o in used), default=0))  # fmt: skip
    return ScheduleResult(
        status=status, solver=solver, objective=round(plan_cost(instance, outcomes, routes, list(dropped)), 3),
        lower_bound=lower_bound, solve_time_s=round(solve_time_s, 3),
        itineraries=[i for i, route in zip(itineraries(instance, outcomes), routes, strict=True) if route],
        dropped=[DroppedTask(task_id=instance.tasks[t].id, reason=unservable_reason(instance, t) or reason)
                 for t, reason in sorted(dropped.items())],
        kpis=kpis,
    )  # fmt: skip
