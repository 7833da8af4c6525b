"""Route elimination for the OR-Tools engine: fewer robots, where the objective says a robot costs.

The routing solver prices a robot through its fixed cost, but its moves shift tasks one or two at a
time, and emptying a whole route takes many moves that each look worse. So after its search, each
used route, the shortest first, is taken out and its tasks inserted into the others (cheapest
insertion, with charging stops where needed, every constraint checked by the evaluator); where the
plan then costs less, it is kept, and the next round starts from it.
"""

from __future__ import annotations

import dataclasses
import time

from fleetray.scheduling.greedy import greedy_routes
from fleetray.scheduling.instance import Instance, evaluate_route, plan_cost, served


def _cost(instance: Instance, routes: list[list[int]], dropped: dict[int, str]) -> float | None:
    outcomes = [evaluate_route(instance, robot, route, with_stops=False) for robot, route in enumerate(routes)]
    if not all(outcome.feasible for outcome in outcomes):
        return None
    return plan_cost(instance, outcomes, routes, list(dropped))


def eliminate_routes(
    instance: Instance, routes: list[list[int]], dropped: dict[int, str], deadline: float | None
) -> tuple[list[list[int]], dict[int, str]]:
    """The plan with as many routes emptied as make it cheaper; ``deadline`` (perf_counter) bounds the work
    (None: every route is tried, as a repeatable plan needs)."""
    if instance.request.objective.robots_used <= 0:
        return routes, dropped
    cost = _cost(instance, routes, dropped)
    if cost is None:
        return routes, dropped
    improved = True
    while improved:
        improved = False
        for robot in sorted((r for r in range(len(routes)) if served(routes[r])), key=lambda r: len(served(routes[r]))):
            if deadline is not None and time.perf_counter() >= deadline:
                return routes, dropped
            # The robot taken out can serve nothing; the cache of reasons belongs to the full fleet.
            compatible = [row if r != robot else [False] * len(row) for r, row in enumerate(instance.compatible)]
            without = dataclasses.replace(instance, compatible=compatible, unservable={})
            kept = [route if r != robot else [] for r, route in enumerate(routes)]
            trial_routes, trial_dropped = greedy_routes(without, kept)
            trial_cost = _cost(instance, trial_routes, trial_dropped)
            if trial_cost is not None and trial_cost < cost:
                routes, dropped, cost, improved = trial_routes, trial_dropped, trial_cost, True
                break
    return routes, dropped
