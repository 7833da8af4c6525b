"""The optimiser: OR-Tools' vehicle routing solver with time windows, capacity and battery.

Nodes are each robot's start and end, and one node per task. Dimensions:

- time: travel at the robot's speed plus the task's work, waiting allowed; task windows, robots'
  availability, and maintenance windows as breaks the robot cannot work through;
- load: the tasks' demand against the robot's capacity;
- energy: charge used, in 1e-5 of a full charge, against what the robot has above its reserve.

Tasks are optional (a disjunction with the drop penalty), restricted to robots with the
capability; ``after`` and ``same_robot_as`` are constraints on the solver's variables. The route
order it finds is then scheduled and priced by :func:`fleetray.scheduling.instance.evaluate_route`,
like every other solver's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from fleetray.scheduling.greedy import InfeasiblePlanError, build_result, greedy_routes
from fleetray.scheduling.instance import ENERGY_SCALE, Instance
from fleetray.scheduling.model import ScheduleResult

logger = logging.getLogger(__name__)

DISTANCE_SCALE = 10  # decimetres: the solver works in integers


def solve_routing(instance: Instance, seed_routes: list[list[int]] | None = None) -> ScheduleResult:
    """The optimiser's plan within the request's time limit, started from ``seed_routes`` kept where feasible."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    started = time.perf_counter()
    request = instance.request
    robots, tasks = len(instance.robots), len(instance.tasks)
    node_location = instance.robot_start + instance.robot_end + instance.task_location

    def task_of(node: int) -> int | None:
        return node - 2 * robots if node >= 2 * robots else None

    manager = pywrapcp.RoutingIndexManager(len(node_location), robots, list(range(robots)),
                                           list(range(robots, 2 * robots)))  # fmt: skip
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()
    horizon = request.horizon_s
    weights = request.objective

    # Robots that move and work alike share callbacks (a fleet has few models, not hundreds).
    classes: dict[tuple, list[int]] = {}
    for r, robot in enumerate(instance.robots):
        classes.setdefault((robot.speed_m_s, tuple(instance.durations[r]), robot.consumption_per_m,
                            robot.consumption_per_min_work, robot.failure_risk), []).append(r)  # fmt: skip

    def distance_dm(i: int, j: int) -> int:
        return round(instance.distance(node_location[i], node_location[j]) * DISTANCE_SCALE)

    time_callbacks, energy_callbacks, cost_callbacks = [0] * robots, [0] * robots, [0] * robots
    for members in classes.values():
        r = members[0]
        spec = instance.robots[r]

        def work(i: int, r: int = r) -> int:
            task = task_of(i)
            return instance.durations[r][task] if task is not None else 0

        def time_transit(a: int, b: int, r: int = r, work: Callable[[int], int] = work) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            return work(i) + instance.travel_s(r, node_location[i], node_location[j])

        def energy_transit(a: int, b: int, spec=spec, work: Callable[[int], int] = work) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            used = (instance.distance(node_location[i], node_location[j]) * spec.consumption_per_m
                    + work(i) / 60 * spec.consumption_per_min_work)  # fmt: skip
            return math.ceil(used * ENERGY_SCALE)

        def arc_cost(a: int, b: int, r: int = r, spec=spec, work: Callable[[int], int] = work) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            return round(weights.distance_m * distance_dm(i, j) / DISTANCE_SCALE
                         + weights.travel_s * instance.travel_s(r, node_location[i], node_location[j])
                         + weights.risk * work(i) * spec.failure_risk)  # fmt: skip

        time_index = routing.RegisterTransitCallback(time_transit)
        energy_index = routing.RegisterTransitCallback(energy_transit)
        cost_index = routing.RegisterTransitCallback(arc_cost)
        for member in members:
            time_callbacks[member], energy_callbacks[member], cost_callbacks[member] = (time_index, energy_index,
                                                                                         cost_index)  # fmt: skip
            routing.SetArcCostEvaluatorOfVehicle(cost_index, member)

    routing.AddDimensionWithVehicleTransits(time_callbacks, horizon, horizon, False, "time")
    time_dimension = routing.GetDimensionOrDie("time")
    for r in range(robots):
        available_from, available_to = instance.availability(r)
        time_dimension.CumulVar(routing.Start(r)).SetRange(available_from, available_to)
        time_dimension.CumulVar(routing.End(r)).SetRange(available_from, available_to)
        breaks = [solver.FixedDurationIntervalVar(w.start, w.start, w.end - w.start, False, f"maintenance-{r}-{k}")
                  for k, w in enumerate(instance.robots[r].maintenance) if w.end > w.start]  # fmt: skip
        if breaks:  # the work at each index (OR-Tools reads this list by routing index, not by node)
            visits = [0] * (routing.Size() + robots)
            for index in range(routing.Size()):
                task = task_of(manager.IndexToNode(index))
                visits[index] = instance.durations[r][task] if task is not None else 0
            time_dimension.SetBreakIntervalsOfVehicle(breaks, r, visits)
    if weights.makespan_s:
        time_dimension.SetGlobalSpanCostCoefficient(math.ceil(weights.makespan_s))
    if weights.balance_s:
        time_dimension.SetSpanCostCoefficientForAllVehicles(math.ceil(weights.balance_s))

    def demand(a: int) -> int:
        task = task_of(manager.IndexToNode(a))
        return instance.tasks[task].demand if task is not None else 0

    routing.AddDimensionWithVehicleCapacity(routing.RegisterUnaryTransitCallback(demand), 0,
                                            [robot.capacity for robot in instance.robots], True, "load")  # fmt: skip
    budgets = [max(0, math.floor((robot.battery_soc - robot.reserve) * ENERGY_SCALE)) for robot in instance.robots]
    routing.AddDimensionWithVehicleTransitAndCapacity(energy_callbacks, 0, budgets, True, "energy")
    if weights.robots_used:
        routing.SetFixedCostOfAllVehicles(math.ceil(weights.robots_used))

    index_of = {task.id: i for i, task in enumerate(instance.tasks)}
    for t in range(tasks):
        index = manager.NodeToIndex(2 * robots + t)
        allowed = [r for r in range(robots) if instance.compatible[r][t]]
        if len(allowed) < robots:
            routing.VehicleVar(index).SetValues([-1, *allowed])  # -1: the task may also be dropped
        start, end = instance.window(t)
        longest = max((instance.durations[r][t] for r in allowed), default=0)
        time_dimension.CumulVar(index).SetRange(start, max(start, end - longest))
        due = instance.tasks[t].due_s
        if due is not None and weights.lateness_s:
            time_dimension.SetCumulVarSoftUpperBound(index, max(0, due - longest), math.ceil(weights.lateness_s))
        routing.AddDisjunction([index], round(weights.dropped * instance.penalties[t]))
        for other in instance.tasks[t].same_robot_as:
            partner = manager.NodeToIndex(2 * robots + index_of[other])
            solver.Add(routing.VehicleVar(index) == routing.VehicleVar(partner))
        for before in instance.tasks[t].after:
            first = manager.NodeToIndex(2 * robots + index_of[before])
            solver.Add(routing.ActiveVar(index) <= routing.ActiveVar(first))
            first_work = max(instance.durations[r][index_of[before]] for r in range(robots))
            solver.Add(time_dimension.CumulVar(index) + horizon * (1 - routing.ActiveVar(index))
                       >= time_dimension.CumulVar(first) + first_work)  # fmt: skip

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    parameters.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    parameters.time_limit.FromMilliseconds(max(100, round(request.options.time_limit_s * 1000)))
    # Start from the greedy plan where the solver's model accepts it: the answer is then never worse.
    baseline_routes, baseline_dropped = greedy_routes(instance, seed_routes)
    baseline = [[manager.NodeToIndex(2 * robots + t) for t in route] for route in baseline_routes]
    routing.CloseModelWithParameters(parameters)
    initial = routing.ReadAssignmentFromRoutes(baseline, True)
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, parameters)
    else:
        solution = routing.SolveWithParameters(parameters)
    elapsed = time.perf_counter() - started
    greedy = build_result(instance, baseline_routes, baseline_dropped, solver="ortools-routing (greedy start kept)",
                          status="feasible", solve_time_s=elapsed)  # fmt: skip
    if solution is None:
        return greedy
    routes: list[list[int]] = []
    for r in range(robots):
        route, index = [], routing.Start(r)
        while not routing.IsEnd(index):
            task = task_of(manager.IndexToNode(index))
            if task is not None:
                route.append(task)
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    served = {t for route in routes for t in route}
    crowded_out = "no room for it in any robot's time, capacity or charge beside the tasks planned"
    dropped = {t: crowded_out for t in range(tasks) if t not in served}
    try:
        optimised = build_result(instance, routes, dropped, solver="ortools-routing", status="feasible",
                                 solve_time_s=elapsed)  # fmt: skip
    except InfeasiblePlanError as err:  # never hand out a plan that breaks a constraint: the baseline is sound
        logger.error("%s; answering with the greedy plan", err)
        return greedy.model_copy(update={"solver": f"greedy-insertion (the optimiser's plan was refused: {err})"})
    # The solver's model is slightly stricter than the evaluator (a window is met for the slowest
    # capable robot), so where it could not improve on the greedy start, that start is the answer.
    return optimised if optimised.objective <= greedy.objective else greedy
