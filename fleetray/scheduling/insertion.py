"""Checking an insertion in constant time: each route keeps its finish times and latest starts (forward
time slack), its load and its charge used, so "can task u go between stops i and i+1?" needs no replay.

Valid for robots without maintenance windows (a maintenance window moves work non-linearly); the
greedy baseline checks those robots by replaying the route instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetray.scheduling.instance import Instance


@dataclass
class RouteSlack:
    """One robot's route with what constant-time insertion checks need."""

    robot: int
    tasks: list[int] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # location of stop i (0: start, last: end)
    finish: list[int] = field(default_factory=list)  # when the work at stop i ends
    latest_start: list[float] = field(default_factory=list)  # the latest start at stop i keeping the rest feasible
    load: int = 0
    energy: float = 0.0


def build_slack(instance: Instance, robot: int, tasks: list[int]) -> RouteSlack:
    """The slack of a feasible route (checked beforehand with the evaluator)."""
    available_from, available_to = instance.availability(robot)
    spec = instance.robots[robot]
    places = [instance.robot_start[robot], *(instance.task_location[t] for t in tasks), instance.robot_end[robot]]
    finish = [available_from]
    energy = 0.0
    for k, task in enumerate(tasks, start=1):
        arrival = finish[-1] + instance.travel_s(robot, places[k - 1], places[k])
        start = max(arrival, instance.window(task)[0])
        duration = instance.durations[robot][task]
        finish.append(start + duration)
        energy += instance.distance(places[k - 1], places[k]) * spec.consumption_per_m
        energy += duration / 60 * spec.consumption_per_min_work
    energy += instance.distance(places[-2], places[-1]) * spec.consumption_per_m
    latest = [0.0] * len(places)
    latest[-1] = available_to
    for k in range(len(tasks), 0, -1):
        task = tasks[k - 1]
        duration = instance.durations[robot][task]
        next_latest = latest[k + 1] - instance.travel_s(robot, places[k], places[k + 1]) - duration
        latest[k] = min(instance.window(task)[1] - duration, next_latest)
    return RouteSlack(robot, list(tasks), places, finish, latest,
                      sum(instance.tasks[t].demand for t in tasks), energy)  # fmt: skip


def insertion_delta(instance: Instance, route: RouteSlack, task: int, position: int) -> tuple[float, float] | None:
    """``(extra metres, extra travel seconds)`` of putting ``task`` after stop ``position``, or None if infeasible."""
    robot, places = route.robot, route.places
    spec = instance.robots[robot]
    if route.load + instance.tasks[task].demand > spec.capacity:
        return None
    before, after, here = places[position], places[position + 1], instance.task_location[task]
    duration = instance.durations[robot][task]
    window_start, window_end = instance.window(task)
    start = max(route.finish[position] + instance.travel_s(robot, before, here), window_start)
    if start + duration > window_end:
        return None
    arrival_next = start + duration + instance.travel_s(robot, here, after)
    if position + 1 < len(places) - 1:  # the next stop is a task: its start may only move up to its latest start
        next_start = max(arrival_next, instance.window(route.tasks[position])[0])
    else:
        next_start = arrival_next
    if next_start > route.latest_start[position + 1]:
        return None
    extra_m = instance.distance(before, here) + instance.distance(here, after) - instance.distance(before, after)
    extra_energy = extra_m * spec.consumption_per_m + duration / 60 * spec.consumption_per_min_work
    if route.energy + extra_energy > spec.battery_soc - spec.reserve + 1e-9:
        return None
    extra_s = (instance.travel_s(robot, before, here) + instance.travel_s(robot, here, after)
               - instance.travel_s(robot, before, after))  # fmt: skip
    return extra_m, extra_s
