"""A schedule request compiled to arrays, and the one evaluator of routes that every solver is scored with.

Solvers (the OR-Tools one, the greedy baseline) only decide each robot's order of visits: tasks,
and charging stops where a solver plans them. The evaluator walks a route, schedules it as early as
the constraints allow, adds a charging stop wherever the robot would otherwise run below its
reserve, checks every hard constraint and prices the plan, so solutions from different solvers
compare on the same terms.

A route is a list of items: a task's index (0 and up), or ``charge_item(location)`` (negative) for
a charging stop at that charger. A robot charges to full at a stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetray.scheduling.model import Itinerary, ScheduleRequest, ScheduleRobot, ScheduleTask, Stop

ENERGY_SCALE = 100_000  # battery fractions as integers for the solver (1e-5 of a full charge)
EPSILON = 1e-9


def charge_item(location: int) -> int:
    """The route item for a charging stop at charger ``location``."""
    return -1 - location


def charge_location(item: int) -> int:
    """The charger of a charging stop's route item."""
    return -1 - item


def charge_seconds(robot: ScheduleRobot, level: float) -> int:
    """How long ``robot`` charges from ``level`` to full."""
    return math.ceil(max(0.0, 1.0 - level) / robot.charge_rate_per_min * 60 - EPSILON)


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
    chargers: list[int] = field(default_factory=list)  # locations where robots can charge
    _nearest_charger: list[int | None] = field(default_factory=list)

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

    def nearest_charger(self, location: int) -> int | None:
        """The charger nearest to ``location`` (None: the site has none)."""
        if not self._nearest_charger:
            self._nearest_charger = [
                min(self.chargers, key=lambda c: self.distance(place, c)) if self.chargers else None
                for place in range(len(self.request.locations))
            ]
        return self._nearest_charger[location]

    def energy(self, robot: int, a: int, b: int) -> float:
        """Charge ``robot`` uses travelling from location ``a`` to ``b``."""
        return self.distance(a, b) * self.robots[robot].consumption_per_m

    def work_energy(self, robot: int, task: int) -> float:
        """Charge ``robot`` uses doing ``task``."""
        return self.durations[robot][task] / 60 * self.robots[robot].consumption_per_min_work

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
        durations.append(
            [
                task.duration_s if task.duration_s is not None else math.ceil(task.area_m2 / robot.cleaning_rate_m2_s)
                for task in request.tasks
            ]
        )
        compatible.append([task.capability is None or task.capability in capabilities for task in request.tasks])
    instance = Instance(
        request,
        location_index,
        distance_m,
        [(loc.x, loc.y) for loc in request.locations],
        [location_index[task.location] for task in request.tasks],
        durations,
        compatible,
        [drop_penalty(task) for task in request.tasks],
    )
    instance.robot_start = [location_index[robot.start_location] for robot in request.robots]
    instance.robot_end = [location_index[robot.end_location or robot.start_location] for robot in request.robots]
    instance.chargers = [i for i, location in enumerate(request.locations) if location.charger]
    return instance


@dataclass
class RouteOutcome:
    """A route scheduled as early as possible: feasible or not (and why), its stops and its numbers.

    ``visits`` is the route as driven: the given items with the charging stops the evaluator added.
    """

    feasible: bool
    reason: str = ""
    stops: list[Stop] = field(default_factory=list)
    visits: list[int] = field(default_factory=list)
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


class _Walk:
    """A robot driving its route: where it is, when, with what charge and load, and what it has done."""

    def __init__(self, instance: Instance, robot: int, with_stops: bool) -> None:
        self.instance, self.robot, self.spec = instance, robot, instance.robots[robot]
        self.time, self.position = instance.availability(robot)[0], instance.robot_start[robot]
        self.battery, self.load = self.spec.battery_soc, 0
        self.outcome = RouteOutcome(feasible=True)
        self.stops = self.outcome.stops if with_stops else None
        self.just_charged = False

    def drive(self, target: int) -> int:
        """Travel to ``target``; the arrival time."""
        instance = self.instance
        self.battery -= instance.energy(self.robot, self.position, target)
        self.outcome.distance_m += instance.distance(self.position, target)
        travel = instance.travel_s(self.robot, self.position, target)
        self.outcome.travel_s += travel
        self.position = target
        return self.time + travel

    def charge(self, charger: int) -> bool:
        """Drive to ``charger`` and charge to full; False when the robot cannot reach it above its reserve."""
        arrival = self.drive(charger)
        if self.battery < self.spec.reserve - EPSILON:
            return False
        self.time = arrival + charge_seconds(self.spec, self.battery)
        self.battery, self.just_charged = 1.0, True
        self.outcome.visits.append(charge_item(charger))
        if self.stops is not None:
            self.stops.append(
                Stop(
                    kind="charge",
                    location=self.instance.request.locations[charger].id,
                    arrival_s=arrival,
                    start_s=arrival,
                    end_s=self.time,
                    battery_soc=1.0,
                )
            )
        return True

    def needs_charge_before(self, target: int, then: float) -> bool:
        """Whether going to ``target`` and using ``then`` there would leave too little to reach a charger or the end.

        Only robots that use charge on a site with chargers ever stop to charge on their own.
        """
        instance, robot = self.instance, self.robot
        if (
            self.just_charged
            or not instance.chargers
            or (not self.spec.consumption_per_m and not self.spec.consumption_per_min_work)
        ):
            return False
        after = self.battery - instance.energy(robot, self.position, target) - then
        nearest = instance.nearest_charger(target)
        onward = min(instance.energy(robot, target, nearest), instance.energy(robot, target, instance.robot_end[robot]))
        return after - onward < self.spec.reserve - EPSILON

    def charge_if_needed(self, target: int, then: float) -> None:
        if self.needs_charge_before(target, then):
            charger = self.instance.nearest_charger(self.position)
            if charger is not None and charger != target:
                self.charge(charger)


def evaluate_route(instance: Instance, robot: int, items: list[int], *, with_stops: bool = True) -> RouteOutcome:
    """Schedule ``items`` in this order on ``robot``: earliest starts, charging where needed, every constraint checked.

    ``with_stops=False`` skips building the itinerary (the insertion loops only need the numbers).
    """
    spec = instance.robots[robot]
    maintenance = sorted((w.start, w.end) for w in spec.maintenance)
    walk = _Walk(instance, robot, with_stops)
    outcome, stops = walk.outcome, walk.stops
    available_from, available_to = instance.availability(robot)
    if stops is not None:
        stops.append(
            Stop(
                kind="start",
                location=spec.start_location,
                arrival_s=walk.time,
                start_s=walk.time,
                end_s=walk.time,
                battery_soc=round(walk.battery, 4),
            )
        )
    for task in items:
        if task < 0:
            if walk.just_charged and walk.position == charge_location(task):
                continue  # charging again where it just charged to full adds nothing
            if not walk.charge(charge_location(task)):
                return RouteOutcome(
                    False,
                    f"robot {spec.id}'s battery would fall below its reserve before "
                    f"reaching charger {instance.request.locations[charge_location(task)].id}",
                )
            continue
        target = instance.task_location[task]
        duration = instance.durations[robot][task]
        walk.charge_if_needed(target, instance.work_energy(robot, task))
        arrival = walk.drive(target)
        window_start, window_end = instance.window(task)
        start = _after_maintenance(max(arrival, window_start), duration, maintenance)
        walk.load += instance.tasks[task].demand
        walk.battery -= instance.work_energy(robot, task)
        broken = None  # messages are formatted only on failure: this loop is the solvers' hot path
        if not instance.compatible[robot][task]:
            broken = f"robot {spec.id} lacks capability {instance.tasks[task].capability!r}"
        elif start + duration > window_end:
            broken = f"task {instance.tasks[task].id} cannot finish within its window"
        elif walk.load > spec.capacity:
            broken = f"robot {spec.id}'s capacity ({spec.capacity}) would be exceeded"
        elif walk.battery < spec.reserve - EPSILON:
            broken = f"robot {spec.id}'s battery would fall below its reserve"
        if broken:
            return RouteOutcome(False, broken)
        due = instance.tasks[task].due_s
        if due is not None:
            outcome.lateness_s += max(0, start + duration - due)
        outcome.work_s += duration
        outcome.risk += duration * spec.failure_risk
        outcome.visits.append(task)
        walk.just_charged = False
        if stops is not None:
            stops.append(
                Stop(
                    kind="task",
                    location=instance.tasks[task].location,
                    task_id=instance.tasks[task].id,
                    arrival_s=arrival,
                    start_s=start,
                    end_s=start + duration,
                    battery_soc=round(walk.battery, 4),
                )
            )
        walk.time = start + duration
    end = instance.robot_end[robot]
    walk.charge_if_needed(end, 0.0)
    arrival = walk.drive(end)
    broken = None
    if walk.battery < spec.reserve - EPSILON:
        broken = f"robot {spec.id}'s battery would fall below its reserve on the way back"
    elif arrival > available_to:
        broken = f"robot {spec.id} would be back after its availability ends"
    if broken:
        return RouteOutcome(False, broken)
    outcome.end_s = arrival
    outcome.span_s = arrival - available_from
    if stops is not None:
        stops.append(
            Stop(
                kind="end",
                location=spec.end_location or spec.start_location,
                arrival_s=arrival,
                start_s=arrival,
                end_s=arrival,
                battery_soc=round(walk.battery, 4),
            )
        )
    return outcome


def served(route: list[int]) -> list[int]:
    """The tasks of a route, without its charging stops."""
    return [item for item in route if item >= 0]


def plan_cost(instance: Instance, outcomes: list[RouteOutcome], routes: list[list[int]], dropped: list[int]) -> float:
    """The request's objective for a plan (all routes feasible)."""
    weights = instance.request.objective
    used = [outcome for outcome, route in zip(outcomes, routes, strict=True) if served(route)]
    cost = weights.dropped * sum(instance.penalties[task] for task in dropped)
    cost += sum(
        weights.distance_m * o.distance_m
        + weights.travel_s * o.travel_s
        + weights.lateness_s * o.lateness_s
        + weights.balance_s * o.span_s
        + weights.risk * o.risk
        for o in used
    )
    cost += weights.robots_used * len(used)
    cost += weights.makespan_s * max((o.end_s for o in used), default=0)
    return cost


def itineraries(instance: Instance, outcomes: list[RouteOutcome]) -> list[Itinerary]:
    """Each robot's itinerary, as the answer carries it."""
    return [
        Itinerary(
            robot_id=robot.id, stops=o.stops, distance_m=round(o.distance_m, 1), travel_s=o.travel_s, work_s=o.work_s
        )
        for robot, o in zip(instance.robots, outcomes, strict=True)
    ]
