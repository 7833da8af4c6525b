"""A schedule request compiled to arrays, and the one evaluator of routes that every solver is scored with.

Solvers (the OR-Tools one, the greedy baseline) only decide each robot's order of tasks; the
evaluator walks a route, schedules it as early as the constraints allow, checks every hard
constraint and prices the plan, so solutions from different solvers compare on the same terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetray.scheduling.model import Itinerary, ScheduleRequest, ScheduleRobot, ScheduleTask, Stop

ENERGY_SCALE = 100_000  # battery fractions as integers for the solver (1e-5 of a full charge)


@dataclass
class Instance:
    """Indices and per-robot numbers derived from a request."""

    request: ScheduleRequest
    location_index: dict[str, int]
    distance_m: list[list[float]] | None
    coordinates: list[tuple[float, float]]
    task_location: list[int]
    durations: list[list[int]]  # [robot][task] seconds of work (area / the robot's rate when given by area)
    compatible: list[list[bool]]  # [robot][task]
    penalties: list[int]
    robot_start: list[int] = field(default_factory=list)
    robot_end: list[int] = field(default_factory=list)
    unservable: dict[int, str | None] = field(default_factory=dict)  # task -> why no robot can serve it alone

    @property
    def robots(self) -> list[ScheduleRobot]:
        return self.request.robots

    @property
    def tasks(self) -> list[ScheduleTask]:
        return self.request.tasks

    def distance(self, a: int, b: int) -> float:
        """Metres between locations ``a`` and ``b``."""
        if self.distance_m is not None:
            return self.distance_m[a][b]
        (ax, ay), (bx, by) = self.coordinates[a], self.coordinates[b]
        return math.hypot(ax - bx, ay - by)

    def travel_s(self, robot: int, a: int, b: int) -> int:
        """Seconds robot ``robot`` needs from location ``a`` to ``b``."""
        return math.ceil(self.distance(a, b) / self.robots[robot].speed_m_s)

    def window(self, task: int) -> tuple[int, int]:
        w = self.tasks[task].window
        return (w.start, w.end) if w is not None else (0, self.request.horizon_s)

    def availability(self, robot: int) -> tuple[int, int]:
        a = self.robots[robot].availability
        return (a.start, min(a.end, self.request.horizon_s)) if a is not None else (0, self.request.horizon_s)


def drop_penalty(task: ScheduleTask) -> int:
    """What dropping a task costs: its own penalty, else 100,000 per priority level (plus one, so 0 still counts)."""
    return task.drop_penalty if task.drop_penalty is not None else 100_000 * (task.priority + 1)


def compile_request(request: ScheduleRequest) -> Instance:
    """Index a request (validate it first: unknown ids raise KeyError here)."""
    location_index = {location.id: i for i, location in enumerate(request.locations)}
    distance_m = None
    if request.matrix is not None:
        order = [request.matrix.ids.index(location.id) for location in request.locations]
        distance_m = [[request.matrix.distances_m[i][j] for j in order] for i in order]
    durations, compatible = [], []
    for robot in request.robots:
        capabilities = set(robot.capabilities)
        durations.append([
            task.duration_s if task.duration_s is not None else math.ceil(task.area_m2 / robot.cleaning_rate_m2_s)
            for task in request.tasks
        ])  # fmt: skip
        compatible.append([task.capability is None or task.capability in capabilities for task in request.tasks])
    instance = Instance(
        request, location_index, distance_m, [(loc.x, loc.y) for loc in request.locations],
        [location_index[task.location] for task in request.tasks], durations, compatible,
        [drop_penalty(task) for task in request.tasks],
    )  # fmt: skip
    instance.robot_start = [location_index[robot.start_location] for robot in request.robots]
    instance.robot_end = [location_index[robot.end_location or robot.start_location] for robot in request.robots]
    return instance


@dataclass
class RouteOutcome:
    """A route scheduled as early as possible: feasible or not (and why), its stops and its numbers."""

    feasible: bool
    reason: str = ""
    stops: list[Stop] = field(default_factory=list)
    distance_m: float = 0.0
    travel_s: int = 0
    work_s: int = 0
    lateness_s: int = 0
    end_s: int = 0
    span_s: int = 0
    risk: float = 0.0


def _after_maintenance(start: int, duration: int, maintenance: list[tuple[int, int]]) -> int:
    """The earliest start at or after ``start`` whose work overlaps no maintenance window."""
    moved = True
    while moved:
        moved = False
        for m_start, m_end in maintenance:
            if start < m_end and start + duration > m_start:
                start, moved = m_end, True
    return start


def evaluate_route(instance: Instance, robot: int, tasks: list[int], *, with_stops: bool = True) -> RouteOutcome:
    """Schedule ``tasks`` in this order on ``robot``: earliest starts, every hard constraint checked.

    ``with_stops=False`` skips building the itinerary (the insertion loops only need the numbers).
    """
    spec = instance.robots[robot]
    available_from, available_to = instance.availability(robot)
    maintenance = sorted((w.start, w.end) for w in spec.maintenance)
    position = instance.robot_start[robot]
    time = available_from
    load = 0
    battery = spec.battery_soc
    outcome = RouteOutcome(feasible=True)
    stops = outcome.stops if with_stops else None
    if stops is not None:
        stops.append(Stop(kind="start", location=spec.start_location, arrival_s=time, start_s=time, end_s=time,
                              battery_soc=round(battery, 4)))  # fmt: skip
    for task in tasks:
        target = instance.task_location[task]
        distance = instance.distance(position, target)
        travel = instance.travel_s(robot, position, target)
        arrival = time + travel
        duration = instance.durations[robot][task]
        window_start, window_end = instance.window(task)
        start = _after_maintenance(max(arrival, window_start), duration, maintenance)
        load += instance.tasks[task].demand
        battery -= distance * spec.consumption_per_m + duration / 60 * spec.consumption_per_min_work
        broken = None  # messages are formatted only on failure: this loop is the solvers' hot path
        if not instance.compatible[robot][task]:
            broken = f"robot {spec.id} lacks capability {instance.tasks[task].capability!r}"
        elif start + duration > window_end:
            broken = f"task {instance.tasks[task].id} cannot finish within its window"
        elif load > spec.capacity:
            broken = f"robot {spec.id}'s capacity ({spec.capacity}) would be exceeded"
        elif battery < spec.reserve - 1e-9:
            broken = f"robot {spec.id}'s battery would fall below its reserve"
        if broken:
            return RouteOutcome(False, broken)
        due = instance.tasks[task].due_s
        if due is not None:
            outcome.lateness_s += max(0, start + duration - due)
        outcome.distance_m += distance
        outcome.travel_s += travel
        outcome.work_s += duration
        outcome.risk += duration * spec.failure_risk
        if stops is not None:
            stops.append(Stop(kind="task", location=instance.tasks[task].location, task_id=instance.tasks[task].id,
                                  arrival_s=arrival, start_s=start, end_s=start + duration,
                                  battery_soc=round(battery, 4)))  # fmt: skip
        time, position = start + duration, target
    end = instance.robot_end[robot]
    distance = instance.distance(position, end)
    battery -= distance * spec.consumption_per_m
    travel = instance.travel_s(robot, position, end)
    arrival = time + travel
    broken = None
    if battery < spec.reserve - 1e-9:
        broken = f"robot {spec.id}'s battery would fall below its reserve on the way back"
    elif arrival > available_to:
        broken = f"robot {spec.id} would be back after its availability ends"
    if broken:
        return RouteOutcome(False, broken)
    outcome.distance_m += distance
    outcome.travel_s += travel
    outcome.end_s = arrival
    outcome.span_s = arrival - available_from
    end_id = spec.end_location or spec.start_location
    if stops is not None:
        stops.append(Stop(kind="end", location=end_id, arrival_s=arrival, start_s=arrival, end_s=arrival,
                              battery_soc=round(battery, 4)))  # fmt: skip
    return outcome


def plan_cost(instance: Instance, outcomes: list[RouteOutcome], routes: list[list[int]], dropped: list[int]) -> float:
    """The request's objective for a plan (all routes feasible)."""
    weights = instance.request.objective
    used = [outcome for outcome, route in zip(outcomes, routes, strict=True) if route]
    cost = weights.dropped * sum(instance.penalties[task] for task in dropped)
    cost += sum(weights.distance_m * o.distance_m + weights.travel_s * o.travel_s + weights.lateness_s * o.lateness_s
                + weights.balance_s * o.span_s + weights.risk * o.risk for o in used)  # fmt: skip
    cost += weights.robots_used * len(used)
    cost += weights.makespan_s * max((o.end_s for o in used), default=0)
    return cost


def itineraries(instance: Instance, outcomes: list[RouteOutcome]) -> list[Itinerary]:
    """Each robot's itinerary, as the answer carries it."""
    return [Itinerary(robot_id=robot.id, stops=o.stops, distance_m=round(o.distance_m, 1), travel_s=o.travel_s,
                      work_s=o.work_s) for robot, o in zip(instance.robots, outcomes, strict=True)]  # fmt: skip
