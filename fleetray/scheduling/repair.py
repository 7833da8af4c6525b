"""Re-optimising a plan after something happened: a robot failed, a robot is late, tasks were added.

What had started before the event stays as it was (work in progress goes on, except on a failed
robot, whose unfinished tasks go back to the pool). Every robot then continues from where its last
started task leaves it, with the charge it will have, and the rest is planned again starting from
the previous plan's order, so what the event does not touch stays where it was unless moving it
makes the plan better.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fleetray.scheduling.model import (
    DroppedTask,
    Id,
    Itinerary,
    ScheduleRequest,
    ScheduleResult,
    ScheduleTask,
    Seconds,
    Stop,
    Strict,
    Window,
)


class ScheduleEvent(Strict):
    """What changed, ``at_s`` seconds into the horizon."""

    type: Literal["robot_failed", "robot_late", "tasks_added"]
    at_s: Seconds = Field(ge=0)
    robot_id: Id | None = Field(default=None, description="For robot_failed and robot_late.")
    delay_s: Seconds = Field(default=0, ge=0, description="For robot_late: how much later it can go on.")
    tasks: list[ScheduleTask] = Field(default_factory=list, max_length=20_000, description="For tasks_added.")

    @model_validator(mode="after")
    def _complete(self) -> ScheduleEvent:
        if self.type in ("robot_failed", "robot_late") and self.robot_id is None:
            raise ValueError(f"a {self.type} event needs robot_id")
        if self.type == "tasks_added" and not self.tasks:
            raise ValueError("a tasks_added event needs tasks")
        return self


class ReoptimizeRequest(Strict):
    """The request the previous plan answered, that plan, and the event."""

    request: ScheduleRequest
    previous: ScheduleResult
    event: ScheduleEvent

    @model_validator(mode="after")
    def _consistent(self) -> ReoptimizeRequest:
        robots = {robot.id for robot in self.request.robots}
        if self.event.robot_id is not None and self.event.robot_id not in robots:
            raise ValueError(f"event.robot_id {self.event.robot_id!r} is not one of the request's robots")
        unknown = {i.robot_id for i in self.previous.itineraries} - robots
        if unknown:
            raise ValueError(f"previous plan has itineraries of robots the request lacks: {sorted(unknown)[:5]}")
        return self


def reoptimize(body: ReoptimizeRequest) -> ScheduleResult:
    """The plan repaired after ``body.event``."""
    from fleetray.scheduling import solve

    request, event = body.request, body.event
    previous = {itinerary.robot_id: itinerary for itinerary in body.previous.itineraries}
    frozen: dict[str, list[Stop]] = {}
    seed: dict[str, list[str]] = {}
    robots = []
    for robot in request.robots:
        stops = [s for s in previous[robot.id].stops if s.kind in ("task", "charge")] if robot.id in previous else []
        failed = event.type == "robot_failed" and robot.id == event.robot_id
        kept = [s for s in stops if (s.end_s <= event.at_s if failed else s.start_s < event.at_s)]
        frozen[robot.id] = kept
        if failed:
            continue
        seed[robot.id] = [s.task_id for s in stops if s not in kept and s.task_id]
        last = kept[-1] if kept else None
        ready = max(event.at_s, last.end_s if last else 0)
        if event.type == "robot_late" and robot.id == event.robot_id:
            ready += event.delay_s
        until = robot.availability.end if robot.availability is not None else request.horizon_s
        robots.append(
            robot.model_copy(
                update={
                    "start_location": last.location if last else robot.start_location,
                    "end_location": robot.end_location or robot.start_location,
                    "battery_soc": last.battery_soc if last and last.battery_soc is not None else robot.battery_soc,
                    "availability": Window(start=min(ready, until), end=until),
                }
            )
        )
    done = {s.task_id for stops in frozen.values() for s in stops if s.task_id}
    capabilities = {c for robot in robots for c in robot.capabilities}
    orphaned, remaining = [], []
    for task in [*(t for t in request.tasks if t.id not in done), *event.tasks]:
        if task.capability is not None and task.capability not in capabilities:
            reason = f"no robot with capability {task.capability!r} is left after the {event.type.replace('_', ' ')}"
            orphaned.append(DroppedTask(task_id=task.id, reason=reason))
        else:
            remaining.append(task)
    replanned = solve(request.model_copy(update={"robots": robots, "tasks": remaining}), seed=seed)
    replanned = replanned.model_copy(
        update={
            "dropped": [*replanned.dropped, *orphaned],
            "kpis": replanned.kpis.model_copy(update={"tasks_dropped": replanned.kpis.tasks_dropped + len(orphaned)}),
        }
    )
    return _merged(request, frozen, replanned)


def _merged(request: ScheduleRequest, frozen: dict[str, list[Stop]], replanned: ScheduleResult) -> ScheduleResult:
    """The kept stops followed by the re-planned ones, robot by robot.

    Distances, travel and the objective are those of the re-planned part; the kept tasks count as planned.
    """
    new = {itinerary.robot_id: itinerary for itinerary in replanned.itineraries}
    itineraries = []
    for robot in request.robots:
        kept, plan = frozen.get(robot.id, []), new.get(robot.id)
        if not kept and plan is None:
            continue
        start = Stop(
            kind="start", location=robot.start_location, arrival_s=0, start_s=0, end_s=0, battery_soc=robot.battery_soc
        )
        later = plan.stops[1:] if plan is not None else []
        work_s = sum(s.end_s - s.start_s for s in kept if s.kind == "task") + (plan.work_s if plan else 0)
        itineraries.append(
            Itinerary(
                robot_id=robot.id,
                stops=[start, *kept, *later],
                work_s=work_s,
                distance_m=plan.distance_m if plan else 0.0,
                travel_s=plan.travel_s if plan else 0,
            )
        )
    kept_count = sum(1 for stops in frozen.values() for s in stops if s.kind == "task")
    kpis = replanned.kpis.model_copy(
        update={"tasks_planned": replanned.kpis.tasks_planned + kept_count, "robots_used": len(itineraries)}
    )
    return replanned.model_copy(
        update={"itineraries": itineraries, "kpis": kpis, "solver": f"{replanned.solver}, repaired"}
    )
