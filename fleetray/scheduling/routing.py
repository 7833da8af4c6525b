"""The optimiser: OR-Tools' vehicle routing solver with time windows, capacity, battery and charging.

Nodes are each robot's start and end, one node per task, and copies of each charger (a robot may stop
at any copy, once). Dimensions:

- time: the work at a node plus travel at the robot's speed, waiting allowed; task windows, robots'
  availability, and maintenance windows as breaks the robot cannot work through. At a charging stop
  the time spent (the slack) is at least what charging to full takes from the charge on arrival;
- load: the tasks' demand against the robot's capacity;
- energy: the charge above the robot's reserve, in 1e-5 of a full charge, which travel and work use
  up and a charging stop tops up (its slack; zero everywhere else).

Tasks are optional (a disjunction with the drop penalty), restricted to robots with the capability;
``after`` and ``same_robot_as`` are constraints on the solver's variables. The route order it finds
is then scheduled and priced by :func:`fleetray.scheduling.instance.evaluate_route`, like every
other solver's, and the answer is never worse than the greedy plan the search starts from.

Moves, work and charge are given to the solver as matrices on problems up to ``MATRIX_NODES``
nodes (evaluated in C++, which makes the search several times faster), as Python callbacks above.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from fleetray.scheduling.elimination import eliminate_routes
from fleetray.scheduling.greedy import InfeasiblePlanError, build_result, greedy_routes
from fleetray.scheduling.instance import ENERGY_SCALE, Instance, charge_item, charge_location, served
from fleetray.scheduling.model import ScheduleResult

logger = logging.getLogger(__name__)

DISTANCE_SCALE = 10  # decimetres: the solver works in integers
MATRIX_NODES = 2500  # above this, matrices would cost more memory and set-up time than the callbacks save
SPARE_CHARGER_VISITS = 20  # charger copies beyond what the greedy plan uses, per charger
ELIMINATION_SHARE = 0.2  # of the time limit, kept for route elimination when the objective weighs robots


class _Nodes:
    """The solver's nodes: robots' starts, robots' ends, tasks, charger copies; and what each one is."""

    def __init__(self, instance: Instance, baseline: list[list[int]], charging: bool) -> None:
        robots = len(instance.robots)
        self.robots, self.tasks = robots, len(instance.tasks)
        self.location = [*instance.robot_start, *instance.robot_end, *instance.task_location]
        self.first_charger = len(self.location)
        if charging:
            planned = Counter(charge_location(item) for route in baseline for item in route if item < 0)
            for charger in instance.chargers:
                self.location += [charger] * (planned[charger] + min(robots, SPARE_CHARGER_VISITS))

    def task(self, node: int) -> int | None:
        return node - 2 * self.robots if 2 * self.robots <= node < self.first_charger else None

    def is_charger(self, node: int) -> bool:
        return node >= self.first_charger

    def chargers(self) -> range:
        return range(self.first_charger, len(self.location))

    def as_nodes(self, route: list[int], free: dict[int, list[int]]) -> list[int]:
        """A route's items as nodes (each charging stop takes a free copy of its charger)."""
        return [free[charge_location(item)].pop() if item < 0 else 2 * self.robots + item for item in route]


def _uses_charge(instance: Instance) -> bool:
    return any(robot.consumption_per_m or robot.consumption_per_min_work for robot in instance.robots)


def _service(instance: Instance, nodes: _Nodes, robot: int) -> np.ndarray:
    """Seconds of work at each node by ``robot`` (charging time is the time dimension's slack at chargers)."""
    service = np.zeros(len(nodes.location), dtype=np.int64)
    service[2 * nodes.robots : nodes.first_charger] = instance.durations[robot]
    return service


class _Transits:
    """Per robot class: the time, charge and cost of going from node to node, registered with the solver."""

    def __init__(self, instance: Instance, nodes: _Nodes, manager: object, routing: object) -> None:
        self.instance, self.nodes, self.manager, self.routing = instance, nodes, manager, routing
        self.use_matrices = len(nodes.location) <= MATRIX_NODES
        self.distances = self._distance_matrix() if self.use_matrices else None

    def _distance_matrix(self) -> np.ndarray:
        places = np.array(self.nodes.location)
        if self.instance.distance_m is not None:
            return np.array(self.instance.distance_m, dtype=np.float64)[np.ix_(places, places)]
        xy = np.array(self.instance.coordinates, dtype=np.float64)[places]
        return np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])

    def register(self, robot: int) -> tuple[int, int, int]:
        """The (time, energy, cost) callback indices for robots like ``robot``."""
        if self.use_matrices:
            return self._register_matrices(robot)
        return self._register_callbacks(robot)

    def _register_matrices(self, robot: int) -> tuple[int, int, int]:
        instance, spec, weights = self.instance, self.instance.robots[robot], self.instance.request.objective
        distances = self.distances
        work = service = _service(instance, self.nodes, robot)
        travel = np.ceil(distances / spec.speed_m_s).astype(np.int64)
        used = distances * spec.consumption_per_m + (work / 60 * spec.consumption_per_min_work)[:, None]
        energy = -np.ceil(used * ENERGY_SCALE).astype(np.int64)
        cost = np.rint(
            weights.distance_m * np.rint(distances * DISTANCE_SCALE) / DISTANCE_SCALE
            + weights.travel_s * travel
            + (weights.risk * work * spec.failure_risk)[:, None]
        ).astype(np.int64)
        register = self.routing.RegisterTransitMatrix
        return (register((service[:, None] + travel).tolist()), register(energy.tolist()), register(cost.tolist()))

    def _register_callbacks(self, robot: int) -> tuple[int, int, int]:
        instance, nodes, manager = self.instance, self.nodes, self.manager
        spec, weights, location = instance.robots[robot], instance.request.objective, nodes.location
        service = _service(instance, nodes, robot).tolist()

        def work(i: int) -> int:
            return service[i]

        def time_transit(a: int, b: int) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            return service[i] + instance.travel_s(robot, location[i], location[j])

        def energy_transit(a: int, b: int) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            used = (
                instance.distance(location[i], location[j]) * spec.consumption_per_m
                + work(i) / 60 * spec.consumption_per_min_work
            )
            return -math.ceil(used * ENERGY_SCALE)

        def arc_cost(a: int, b: int) -> int:
            i, j = manager.IndexToNode(a), manager.IndexToNode(b)
            distance_dm = round(instance.distance(location[i], location[j]) * DISTANCE_SCALE)
            return round(
                weights.distance_m * distance_dm / DISTANCE_SCALE
                + weights.travel_s * instance.travel_s(robot, location[i], location[j])
                + weights.risk * work(i) * spec.failure_risk
            )

        callbacks: list[Callable[[int, int], int]] = [time_transit, energy_transit, arc_cost]
        return tuple(self.routing.RegisterTransitCallback(callback) for callback in callbacks)  # type: ignore[return-value]


def _robot_class(instance: Instance, robot: int) -> tuple:
    """What makes two robots move, work and charge alike (a fleet has few models, not hundreds)."""
    spec = instance.robots[robot]
    return (
        spec.speed_m_s,
        tuple(instance.durations[robot]),
        spec.consumption_per_m,
        spec.consumption_per_min_work,
        spec.failure_risk,
        spec.reserve,
        spec.charge_rate_per_min,
    )


def solve_routing(instance: Instance, seed_routes: list[list[int]] | None = None) -> ScheduleResult:
    """The optimiser's plan within the request's time limit, started from ``seed_routes`` kept where feasible."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    started = time.perf_counter()
    request = instance.request
    # The greedy plan is the search's start, so the answer is never worse than the baseline.
    baseline_routes, baseline_dropped = greedy_routes(instance, seed_routes)
    charging = bool(instance.chargers) and _uses_charge(instance)
    nodes = _Nodes(instance, baseline_routes, charging)
    robots, horizon, weights = nodes.robots, request.horizon_s, request.objective
    manager = pywrapcp.RoutingIndexManager(
        len(nodes.location), robots, list(range(robots)), list(range(robots, 2 * robots))
    )
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()

    transits = _Transits(instance, nodes, manager, routing)
    time_callbacks, energy_callbacks = [0] * robots, [0] * robots
    registered: dict[tuple, tuple[int, int, int]] = {}
    for r in range(robots):
        key = _robot_class(instance, r)
        if key not in registered:
            registered[key] = transits.register(r)
        time_callbacks[r], energy_callbacks[r], cost = registered[key]
        routing.SetArcCostEvaluatorOfVehicle(cost, r)

    routing.AddDimensionWithVehicleTransits(time_callbacks, horizon, horizon, False, "time")
    time_dimension = routing.GetDimensionOrDie("time")
    for r in range(robots):
        available_from, available_to = instance.availability(r)
        time_dimension.CumulVar(routing.Start(r)).SetRange(available_from, available_to)
        time_dimension.CumulVar(routing.End(r)).SetRange(available_from, available_to)
        breaks = [
            solver.FixedDurationIntervalVar(w.start, w.start, w.end - w.start, False, f"maintenance-{r}-{k}")
            for k, w in enumerate(instance.robots[r].maintenance)
            if w.end > w.start
        ]
        if breaks:  # the work at each index (OR-Tools reads this list by routing index, not by node)
            service = _service(instance, nodes, r)
            visits = [0] * (routing.Size() + robots)
            for index in range(routing.Size()):
                visits[index] = int(service[manager.IndexToNode(index)])
            time_dimension.SetBreakIntervalsOfVehicle(breaks, r, visits)
    if weights.makespan_s:
        time_dimension.SetGlobalSpanCostCoefficient(math.ceil(weights.makespan_s))
    if weights.balance_s:
        time_dimension.SetSpanCostCoefficientForAllVehicles(math.ceil(weights.balance_s))

    def demand(a: int) -> int:
        task = nodes.task(manager.IndexToNode(a))
        return instance.tasks[task].demand if task is not None else 0

    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitCallback(demand), 0, [robot.capacity for robot in instance.robots], True, "load"
    )
    if _uses_charge(instance):
        _add_energy(instance, nodes, manager, routing, energy_callbacks, charging)
        if charging:
            _add_charging_time(instance, nodes, manager, routing)
    if weights.robots_used:
        routing.SetFixedCostOfAllVehicles(math.ceil(weights.robots_used))
    _add_tasks(instance, nodes, manager, routing, time_dimension)
    for node in nodes.chargers():
        routing.AddDisjunction([manager.NodeToIndex(node)], 0)

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    parameters.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    # Stronger penalties than the default 0.1 escape local optima sooner: on Solomon's R201 within 30 s, 5.3 %
    # above the best known distance became 0.4 %, the other classic instances unchanged.
    parameters.guided_local_search_lambda_coefficient = 0.2
    # Where a robot costs, part of the time goes to taking whole routes out after the search.
    reserve_s = request.options.time_limit_s * ELIMINATION_SHARE if weights.robots_used else 0.0
    remaining_s = request.options.time_limit_s - reserve_s - (time.perf_counter() - started)
    parameters.time_limit.FromMilliseconds(max(100, round(remaining_s * 1000)))
    if request.options.solution_limit is not None:
        parameters.solution_limit = request.options.solution_limit
    routing.CloseModelWithParameters(parameters)
    free = {charger: [n for n in nodes.chargers() if nodes.location[n] == charger] for charger in instance.chargers}
    initial = routing.ReadAssignmentFromRoutes(
        [[manager.NodeToIndex(n) for n in nodes.as_nodes(route, free)] for route in baseline_routes], True
    )
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, parameters)
    else:
        logger.info("the greedy plan does not fit the routing model; the solver starts on its own")
        solution = routing.SolveWithParameters(parameters)
    elapsed = time.perf_counter() - started
    greedy = build_result(
        instance,
        baseline_routes,
        baseline_dropped,
        solver="ortools-routing (greedy start kept)",
        status="feasible",
        solve_time_s=elapsed,
    )
    if solution is None:
        return greedy
    routes = [_route(nodes, manager, routing, solution, r) for r in range(robots)]
    planned = {t for route in routes for t in served(route)}
    crowded_out = "no room for it in any robot's time, capacity or charge beside the tasks planned"
    dropped = {t: crowded_out for t in range(nodes.tasks) if t not in planned}
    try:
        optimised = build_result(
            instance, routes, dropped, solver="ortools-routing", status="feasible", solve_time_s=elapsed
        )
    except InfeasiblePlanError as err:
        # Never hand out a plan that breaks a constraint: the evaluator is the judge. The refused routes
        # are cut back to where they hold, and what that leaves out is inserted again.
        logger.warning("%s; repairing it", err)
        routes, dropped = greedy_routes(instance, routes)
        optimised = build_result(
            instance,
            routes,
            dropped,
            solver=f"ortools-routing, repaired ({err})",
            status="feasible",
            solve_time_s=time.perf_counter() - started,
        )
    if weights.robots_used:
        # Without a solution limit the clock bounds the work; with one, every route is tried, so the plan repeats.
        deadline = None if request.options.solution_limit is not None else started + request.options.time_limit_s
        fewer, fewer_dropped = eliminate_routes(instance, routes, dropped, deadline)
        if fewer is not routes:
            optimised = build_result(
                instance,
                fewer,
                fewer_dropped,
                solver=f"{optimised.solver}, routes eliminated",
                status="feasible",
                solve_time_s=time.perf_counter() - started,
            )
    # The solver's model is slightly stricter than the evaluator (a window is met for the slowest
    # capable robot, a charge takes its longest), so where it could not improve on the greedy start,
    # that start is the answer.
    return optimised if optimised.objective <= greedy.objective else greedy


def _add_energy(
    instance: Instance, nodes: _Nodes, manager: object, routing: object, callbacks: list[int], charging: bool
) -> None:
    """Charge above the reserve: used up by moves and work, topped up (slack) only at chargers."""
    capacities = [max(0, math.floor((1.0 - robot.reserve) * ENERGY_SCALE)) for robot in instance.robots]
    routing.AddDimensionWithVehicleTransitAndCapacity(
        callbacks, ENERGY_SCALE if charging else 0, capacities, False, "energy"
    )
    energy = routing.GetDimensionOrDie("energy")
    for r, robot in enumerate(instance.robots):
        above_reserve = math.floor((robot.battery_soc - robot.reserve) * ENERGY_SCALE)
        energy.CumulVar(routing.Start(r)).SetValue(max(0, above_reserve))
    if charging:
        for index in range(routing.Size()):
            if not nodes.is_charger(manager.IndexToNode(index)):
                energy.SlackVar(index).SetValue(0)


def _add_charging_time(instance: Instance, nodes: _Nodes, manager: object, routing: object) -> None:
    """A charging stop charges to full, as the evaluator's robots do, and the robot stays as long as that takes.

    Arriving with charge ``c`` above the reserve (energy units) out of ``capacity``, the stop adds
    ``capacity - c`` and lasts at least ``(capacity - c) * 60 / (rate * ENERGY_SCALE)`` seconds; the rate is
    rounded down, so the time errs long.
    """
    solver = routing.solver()
    time_dimension, energy = routing.GetDimensionOrDie("time"), routing.GetDimensionOrDie("energy")
    groups: dict[tuple[int, int], list[int]] = {}
    for r, robot in enumerate(instance.robots):
        capacity = max(0, math.floor((1.0 - robot.reserve) * ENERGY_SCALE))
        rate = max(1, math.floor(robot.charge_rate_per_min * ENERGY_SCALE * 1000))  # energy units per 1000 minutes
        groups.setdefault((capacity, rate), []).append(r)
    for node in nodes.chargers():
        index = manager.NodeToIndex(node)
        charged, charge_s = energy.SlackVar(index), time_dimension.SlackVar(index)
        for (capacity, rate), members in groups.items():
            if len(groups) == 1:
                solver.Add(energy.CumulVar(index) + charged == capacity)
                solver.Add(charge_s * rate >= charged * 60_000)
            else:
                member = solver.IsMemberVar(routing.VehicleVar(index), members)
                solver.Add((energy.CumulVar(index) + charged - capacity) * member == 0)
                solver.Add(charge_s * rate >= charged * 60_000 * member)


def _add_tasks(instance: Instance, nodes: _Nodes, manager: object, routing: object, time_dimension: object) -> None:
    """Each task: optional at its penalty, capable robots only, its window, due time, precedence and pairing."""
    solver, robots, horizon = routing.solver(), nodes.robots, instance.request.horizon_s
    weights = instance.request.objective
    index_of = {task.id: i for i, task in enumerate(instance.tasks)}

    def task_index(task: int) -> int:
        return manager.NodeToIndex(2 * robots + task)

    for t in range(nodes.tasks):
        index = task_index(t)
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
            solver.Add(routing.VehicleVar(index) == routing.VehicleVar(task_index(index_of[other])))
        for before in instance.tasks[t].after:
            first = task_index(index_of[before])
            solver.Add(routing.ActiveVar(index) <= routing.ActiveVar(first))
            first_work = max(instance.durations[r][index_of[before]] for r in range(robots))
            solver.Add(
                time_dimension.CumulVar(index) + horizon * (1 - routing.ActiveVar(index))
                >= time_dimension.CumulVar(first) + first_work
            )


def _route(nodes: _Nodes, manager: object, routing: object, solution: object, robot: int) -> list[int]:
    """A robot's route in the solution, as items (tasks and charging stops)."""
    route, index = [], routing.Start(robot)
    while not routing.IsEnd(index):
        node = manager.IndexToNode(index)
        task = nodes.task(node)
        if task is not None:
            route.append(task)
        elif nodes.is_charger(node):
            route.append(charge_item(nodes.location[node]))
        index = solution.Value(routing.NextVar(index))
    return route
