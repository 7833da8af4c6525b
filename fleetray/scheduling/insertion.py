"""Checking an insertion in constant time: each route keeps its finish times and latest starts (forward
time slack), its load, and the charge used in each stretch between charging stops, so "can task u go
between stops i and i+1, straight or after a charge at the nearest charger?" needs no replay.

A route here is a driven one (the evaluator's ``visits``, charging stops included). A charging stop
charges to full, so more work before it makes it longer: the check pushes the next stop back by that
much, which is conservative (the delay really comes later, where waiting may absorb more of it).

Valid for robots without maintenance windows (a maintenance window moves work non-linearly); the
greedy baseline checks those robots by replaying the route instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetray.scheduling.instance import EPSILON, Instance, charge_item, charge_location, charge_seconds


@dataclass
class RouteSlack:
    """One robot's driven route with what constant-time insertion checks need; stop 0 is the start, the last the end."""

    robot: int
    items: list[int] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # location of each stop
    finish: list[int] = field(default_factory=list)  # when the work or charging at each stop ends
    latest_start: list[float] = field(default_factory=list)  # the latest start at each stop keeping the rest feasible
    used: list[float] = field(default_factory=list)  # charge used since the stretch began, once each stop is done
    stretch: list[int] = field(default_factory=list)  # the stretch the leg leaving each stop belongs to
    stretch_level: list[float] = field(default_factory=list)  # charge at each stretch's beginning
    stretch_used: list[float] = field(default_factory=list)  # charge each stretch uses, up to its closing stop
    stretch_charges: list[bool] = field(default_factory=list)  # whether it closes at a charging stop (else the end)
    load: int = 0


@dataclass(frozen=True)
class Insertion:
    """A feasible insertion: extra metres and travel seconds, and the charger visited first (if any)."""

    extra_m: float
    extra_s: int
    charger: int | None = None


def build_slack(instance: Instance, robot: int, items: list[int]) -> RouteSlack:
    """The slack of a feasible driven route (checked beforehand with the evaluator)."""
    available_from, available_to = instance.availability(robot)
    spec = instance.robots[robot]
    places = [
        instance.robot_start[robot],
        *(charge_location(i) if i < 0 else instance.task_location[i] for i in items),
        instance.robot_end[robot],
    ]
    slack = RouteSlack(
        robot, list(items), places, finish=[available_from], used=[0.0], stretch=[0], stretch_level=[spec.battery_soc]
    )
    used, durations = 0.0, [0]
    for k, item in enumerate(items, start=1):
        used += instance.energy(robot, places[k - 1], places[k])
        arrival = slack.finish[-1] + instance.travel_s(robot, places[k - 1], places[k])
        if item < 0:
            duration = charge_seconds(spec, slack.stretch_level[-1] - used)
            slack.stretch_used.append(used)
            slack.stretch_charges.append(True)
            slack.stretch_level.append(1.0)
            used, start = 0.0, arrival
        else:
            duration = instance.durations[robot][item]
            used += instance.work_energy(robot, item)
            start = max(arrival, instance.window(item)[0])
            slack.load += instance.tasks[item].demand
        durations.append(duration)
        slack.finish.append(start + duration)
        slack.used.append(used)
        slack.stretch.append(len(slack.stretch_level) - 1)
    slack.stretch_used.append(used + instance.energy(robot, places[-2], places[-1]))
    slack.stretch_charges.append(False)
    latest = [0.0] * len(places)
    latest[-1] = available_to
    for k in range(len(items), 0, -1):
        onward = latest[k + 1] - instance.travel_s(robot, places[k], places[k + 1]) - durations[k]
        latest[k] = onward if items[k - 1] < 0 else min(instance.window(items[k - 1])[1] - durations[k], onward)
    slack.latest_start = latest
    return slack


def _fits_before_next(instance: Instance, route: RouteSlack, position: int, ready: int, later_charge_s: int) -> bool:
    """Whether the stop after ``position`` can still start in time when the robot is ready to go there at ``ready``."""
    following = position + 1
    if following < len(route.places) - 1 and route.items[position] >= 0:
        ready = max(ready, instance.window(route.items[position])[0])
    return ready + later_charge_s <= route.latest_start[following]


def insertion(instance: Instance, route: RouteSlack, task: int, position: int) -> Insertion | None:
    """Putting ``task`` after stop ``position``, straight or after charging at the charger nearest that stop."""
    robot, places = route.robot, route.places
    spec = instance.robots[robot]
    if route.load + instance.tasks[task].demand > spec.capacity:
        return None
    before, after, here = places[position], places[position + 1], instance.task_location[task]
    duration = instance.durations[robot][task]
    window_start, window_end = instance.window(task)
    stretch = route.stretch[position]
    level, stretch_used = route.stretch_level[stretch], route.stretch_used[stretch]
    work = instance.work_energy(robot, task)
    detour_energy = (
        instance.energy(robot, before, here)
        + instance.energy(robot, here, after)
        - instance.energy(robot, before, after)
    )
    extra_energy = detour_energy + work
    if stretch_used + extra_energy <= level - spec.reserve + EPSILON:
        start = max(route.finish[position] + instance.travel_s(robot, before, here), window_start)
        if start + duration > window_end:
            return None
        later_charge = math.ceil(extra_energy / spec.charge_rate_per_min * 60) if route.stretch_charges[stretch] else 0
        ready = start + duration + instance.travel_s(robot, here, after)
        if not _fits_before_next(instance, route, position, ready, later_charge):
            return None
        extra_m = instance.distance(before, here) + instance.distance(here, after) - instance.distance(before, after)
        extra_s = (
            instance.travel_s(robot, before, here)
            + instance.travel_s(robot, here, after)
            - instance.travel_s(robot, before, after)
        )
        return Insertion(extra_m, extra_s)
    return _insertion_after_charge(instance, route, task, position)


def _insertion_after_charge(instance: Instance, route: RouteSlack, task: int, position: int) -> Insertion | None:
    """Charging at the charger nearest stop ``position``, then doing ``task``: the stretch splits in two."""
    robot, places = route.robot, route.places
    spec = instance.robots[robot]
    before, after, here = places[position], places[position + 1], instance.task_location[task]
    charger = instance.nearest_charger(before)
    if charger is None or (position > 0 and route.items[position - 1] < 0):
        return None
    stretch = route.stretch[position]
    level, stretch_used = route.stretch_level[stretch], route.stretch_used[stretch]
    arriving_level = level - route.used[position] - instance.energy(robot, before, charger)
    if arriving_level < spec.reserve - EPSILON:
        return None
    rest = stretch_used - route.used[position] - instance.energy(robot, before, after)
    new_used = (
        instance.energy(robot, charger, here)
        + instance.work_energy(robot, task)
        + instance.energy(robot, here, after)
        + rest
    )
    if new_used > 1.0 - spec.reserve + EPSILON:
        return None
    charged = route.finish[position] + instance.travel_s(robot, before, charger) + charge_seconds(spec, arriving_level)
    window_start, window_end = instance.window(task)
    duration = instance.durations[robot][task]
    start = max(charged + instance.travel_s(robot, charger, here), window_start)
    if start + duration > window_end:
        return None
    later_charge = 0
    if route.stretch_charges[stretch]:
        later_charge = max(0, charge_seconds(spec, 1.0 - new_used) - charge_seconds(spec, level - stretch_used))
    if not _fits_before_next(
        instance, route, position, start + duration + instance.travel_s(robot, here, after), later_charge
    ):
        return None
    extra_m = (
        instance.distance(before, charger)
        + instance.distance(charger, here)
        + instance.distance(here, after)
        - instance.distance(before, after)
    )
    extra_s = (
        instance.travel_s(robot, before, charger)
        + instance.travel_s(robot, charger, here)
        + instance.travel_s(robot, here, after)
        - instance.travel_s(robot, before, after)
    )
    return Insertion(extra_m, extra_s, charger)


def inserted(items: list[int], task: int, position: int, charger: int | None) -> list[int]:
    """The route with ``task`` after stop ``position`` (and the charging stop before it, if any)."""
    added = [task] if charger is None else [charge_item(charger), task]
    return [*items[:position], *added, *items[position:]]
