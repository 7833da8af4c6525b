"""Checking a schedule request without solving it: what is wrong (by field), and which tasks cannot be
served at all, each with the constraint that stops it."""

from __future__ import annotations

from collections import Counter

from fleetray.scheduling.instance import Instance, compile_request, evaluate_route
from fleetray.scheduling.model import DroppedTask, FieldError, ScheduleRequest, Validation


def _duplicates(kind: str, ids: list[str]) -> list[FieldError]:
    return [
        FieldError(field=f"{kind}", message=f"id {value!r} is used {count} times")
        for value, count in Counter(ids).items()
        if count > 1
    ]


def request_errors(request: ScheduleRequest) -> list[FieldError]:
    """What makes a request impossible to read: duplicate or unknown ids, windows past the horizon,
    capabilities no robot has."""
    errors = (
        _duplicates("locations", [loc.id for loc in request.locations])
        + _duplicates("robots", [r.id for r in request.robots])
        + _duplicates("tasks", [t.id for t in request.tasks])
    )
    locations = {loc.id for loc in request.locations}
    if request.matrix is not None:
        missing = sorted(locations - set(request.matrix.ids))
        if missing:
            errors.append(FieldError(field="matrix.ids", message=f"no distances for locations {missing[:5]}"))
    horizon = request.horizon_s
    for i, robot in enumerate(request.robots):
        for name in ("start_location", "end_location"):
            value = getattr(robot, name)
            if value is not None and value not in locations:
                errors.append(FieldError(field=f"robots[{i}].{name}", message=f"unknown location {value!r}"))
        if robot.availability is not None and robot.availability.start >= horizon:
            errors.append(FieldError(field=f"robots[{i}].availability", message="starts after the horizon ends"))
    capabilities = {c for robot in request.robots for c in robot.capabilities}
    task_ids = {t.id for t in request.tasks}
    for i, task in enumerate(request.tasks):
        if task.location not in locations:
            errors.append(FieldError(field=f"tasks[{i}].location", message=f"unknown location {task.location!r}"))
        if task.capability is not None and task.capability not in capabilities:
            errors.append(
                FieldError(field=f"tasks[{i}].capability", message=f"no robot has capability {task.capability!r}")
            )
        if task.window is not None and task.window.end > horizon:
            errors.append(FieldError(field=f"tasks[{i}].window.end", message=f"is after the horizon ({horizon} s)"))
        for name in ("after", "same_robot_as"):
            for other in getattr(task, name):
                if other not in task_ids or other == task.id:
                    errors.append(FieldError(field=f"tasks[{i}].{name}", message=f"{other!r} is not another task"))
    return errors


def validate_request(request: ScheduleRequest) -> Validation:
    """Errors by field; when there are none, the tasks no robot could serve even alone, and why."""
    errors = request_errors(request)
    if errors:
        return Validation(valid=False, errors=errors, unservable=[])
    instance = compile_request(request)
    unservable = []
    for task in range(len(request.tasks)):
        reason = unservable_reason(instance, task)
        if reason is not None:
            unservable.append(DroppedTask(task_id=request.tasks[task].id, reason=reason))
    return Validation(valid=True, errors=[], unservable=unservable)


def unservable_reason(instance: Instance, task: int) -> str | None:
    """Why no robot can serve ``task`` even with nothing else to do, or None if some robot can (remembered)."""
    if task not in instance.unservable:
        reasons = [
            evaluate_route(instance, robot, [task], with_stops=False).reason for robot in range(len(instance.robots))
        ]
        instance.unservable[task] = _summary(reasons) if all(reasons) else None
    return instance.unservable[task]


def _summary(reasons: list[str]) -> str:
    """Why no robot can serve a task alone: each distinct reason, with how many robots it stops."""
    kinds = Counter(reason.split(" ", 2)[-1] if reason.startswith("robot ") else reason for reason in reasons)
    parts = [f"{text} ({count} robot{'s' if count > 1 else ''})" for text, count in kinds.most_common()]
    return "no robot can serve it even alone: " + "; ".join(parts)
