"""A proven lower bound on a request's objective, from CP-SAT, for small requests.

CP-SAT solves a relaxation of the request: robots that are alike in every respect form one kind,
and each kind gets a multiple-circuit model (a route per robot of the kind) with time windows,
tank capacity, capabilities and drop penalties. What the relaxation leaves out (charge, which
charging stops restore; maintenance; precedence and pairing; makespan, balance and lateness terms)
can only make the real optimum dearer, and arc costs are rounded down, so the bound CP-SAT proves
for the relaxation is a bound for the request. CP-SAT stops at the time limit with the best bound
it has proved; the plan's distance from it is the optimality gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetray.errors import FleetrayError
from fleetray.scheduling.instance import Instance

MAX_TASKS = 200  # beyond this the relaxation has too many arcs to prove anything useful in seconds
COST_SCALE = 1000  # costs in thousandths, rounded down


class BoundUnavailableError(FleetrayError):
    """No lower bound is computed for this request (too large, or CP-SAT proved nothing in time)."""


@dataclass
class _Kind:
    robot: int  # a representative
    count: int
    available_from: int
    available_to: int


def _kinds(instance: Instance) -> list[_Kind]:
    kinds: dict[tuple, _Kind] = {}
    for r, spec in enumerate(instance.robots):
        key = (
            instance.robot_start[r],
            instance.robot_end[r],
            tuple(instance.durations[r]),
            tuple(instance.compatible[r]),
            spec.speed_m_s,
            spec.capacity,
            spec.failure_risk,
        )
        start, end = instance.availability(r)
        kind = kinds.setdefault(key, _Kind(r, 0, start, end))
        kind.count += 1
        kind.available_from, kind.available_to = min(kind.available_from, start), max(kind.available_to, end)
    return list(kinds.values())


def lower_bound(instance: Instance, time_limit_s: float, seed: int = 0, workers: int = 1) -> float:
    """The best lower bound on the objective CP-SAT proves within ``time_limit_s`` (of its deterministic time).

    Raises:
        BoundUnavailableError: the request has more than ``MAX_TASKS`` tasks, or CP-SAT proved nothing.
    """
    from ortools.sat.python import cp_model

    tasks = len(instance.tasks)
    if tasks > MAX_TASKS:
        raise BoundUnavailableError(f"lower bounds are computed for up to {MAX_TASKS} tasks, not {tasks}")
    weights = instance.request.objective
    model = cp_model.CpModel()
    objective = []
    served = [[] for _ in range(tasks)]
    for kind in _kinds(instance):
        r, spec = kind.robot, instance.robots[kind.robot]
        places = [instance.robot_start[r], *instance.task_location]  # node 0: the depot, then the tasks

        def arc_cost(i: int, j: int, r: int = r, places: list[int] = places) -> int:
            source = places[i]
            target = instance.robot_end[r] if j == 0 else places[j]
            work = instance.durations[r][i - 1] if i else 0
            cost = (
                weights.distance_m * instance.distance(source, target)
                + weights.travel_s * math.floor(instance.distance(source, target) / instance.robots[r].speed_m_s)
                + weights.risk * work * instance.robots[r].failure_risk
            )
            return math.floor(cost * COST_SCALE)

        def travel(i: int, j: int, r: int = r, places: list[int] = places) -> int:
            target = instance.robot_end[r] if j == 0 else places[j]
            return math.floor(instance.distance(places[i], target) / instance.robots[r].speed_m_s)

        starts = [model.new_int_var(kind.available_from, kind.available_to, f"start-{r}-{t}") for t in range(tasks)]
        loads = [model.new_int_var(0, spec.capacity, f"load-{r}-{t}") for t in range(tasks)]
        arcs, routes = [], []
        for t in range(tasks):
            skip = model.new_bool_var(f"skip-{r}-{t}")
            arcs.append((t + 1, t + 1, skip))
            if not instance.compatible[r][t]:
                model.add(skip == 1)
                continue
            served[t].append(skip.Not())
            window_start, window_end = instance.window(t)
            duration = instance.durations[r][t]
            model.add(starts[t] >= window_start).only_enforce_if(skip.Not())
            model.add(starts[t] + duration <= window_end).only_enforce_if(skip.Not())
            model.add(loads[t] >= instance.tasks[t].demand)
        for i in range(tasks + 1):
            for j in range(tasks + 1):
                if i == j or (i and not instance.compatible[r][i - 1]) or (j and not instance.compatible[r][j - 1]):
                    continue
                arc = model.new_bool_var(f"arc-{r}-{i}-{j}")
                arcs.append((i, j, arc))
                objective.append(arc_cost(i, j) * arc)
                if i == 0:
                    routes.append(arc)
                    model.add(starts[j - 1] >= kind.available_from + travel(0, j)).only_enforce_if(arc)
                elif j == 0:
                    model.add(
                        starts[i - 1] + instance.durations[r][i - 1] + travel(i, 0) <= kind.available_to
                    ).only_enforce_if(arc)
                else:
                    model.add(
                        starts[j - 1] >= starts[i - 1] + instance.durations[r][i - 1] + travel(i, j)
                    ).only_enforce_if(arc)
                    model.add(loads[j - 1] >= loads[i - 1] + instance.tasks[j - 1].demand).only_enforce_if(arc)
        model.add_multiple_circuit(arcs)
        model.add(sum(routes) <= kind.count)
        if weights.robots_used:
            objective.extend(math.floor(weights.robots_used * COST_SCALE) * arc for arc in routes)
    for t in range(tasks):
        dropped = model.new_bool_var(f"dropped-{t}")
        model.add(sum(served[t]) + dropped == 1)
        objective.append(math.floor(weights.dropped * instance.penalties[t] * COST_SCALE) * dropped)
    model.minimize(sum(objective))
    solver = cp_model.CpSolver()
    # Interleaved workers and a limit in deterministic time make the bound the same for a given seed and worker
    # count, run after run; the wall-clock limit only guards against a much slower machine.
    solver.parameters.interleave_search = True
    solver.parameters.max_deterministic_time = time_limit_s
    solver.parameters.max_time_in_seconds = time_limit_s * 3
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    solver.parameters.linearization_level = 2  # the circuit constraints' LP relaxation is where the bound comes from
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) and status != cp_model.UNKNOWN:
        raise BoundUnavailableError(f"CP-SAT ended with {solver.status_name(status)}")
    bound = solver.best_objective_bound / COST_SCALE
    if not math.isfinite(bound):
        raise BoundUnavailableError("CP-SAT proved no bound in the time given")
    return max(0.0, bound)
