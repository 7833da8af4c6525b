"""What the fleet recorded: events, alerts (acknowledge, resolve), tasks and maintenance."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path

from fleetray.inventory import MaintenanceRecord
from fleetray.schemas import EventLevel
from fleetray.storage.alerts import acknowledge_alert, get_alert, resolve_alert
from fleetray.storage.fleet import add_maintenance_record, get_task
from fleetray.storage.listings import ALERTS, EVENTS, MAINTENANCE, TASKS
from fleetray.storage.paging import list_page
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.models import (
    Alert,
    AlertPage,
    EventPage,
    Maintenance,
    MaintenanceCreate,
    MaintenancePage,
    Task,
    TaskPage,
)
from serve_apps.api.problems import problem_responses
from serve_apps.api.routes.common import Cursor, End, Limit, RobotIdQuery, SiteIdQuery, Start, Text, sort_of, time_range

router = APIRouter(prefix="/v1", tags=["records"], responses=problem_responses(400, 401, 403, 422, 429))
AlertsSort = sort_of(ALERTS)
EventsSort = sort_of(EVENTS)
MaintenanceSort = sort_of(MAINTENANCE)
TasksSort = sort_of(TASKS)
AlertIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
TaskIdPath = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/events", response_model=EventPage, summary="Robot events, newest first by default")
def list_events(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdQuery = None,
    level: EventLevel | None = None,
    code: Text = None,
    component: Text = None,
    start: Start = None,
    end: End = None,
    sort: EventsSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> EventPage:
    first, last = time_range(start, end)
    with context.connection() as conn:
        page = list_page(
            conn,
            EVENTS,
            key.tenant_id,
            filters={
                "robot_id": robot_id,
                "level": level.value if level else None,
                "code": code,
                "component": component,
            },
            start=first,
            end=last,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return EventPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/alerts", response_model=AlertPage, summary="Alerts, newest first by default")
def list_alerts(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdQuery = None,
    rule: Text = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    state: Literal["active", "acknowledged", "resolved"] | None = None,
    start: Start = None,
    end: End = None,
    sort: AlertsSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> AlertPage:
    first, last = time_range(start, end)
    with context.connection() as conn:
        page = list_page(
            conn,
            ALERTS,
            key.tenant_id,
            filters={"robot_id": robot_id, "rule": rule, "severity": severity, "state": state},
            start=first,
            end=last,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return AlertPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/alerts/{alert_id}", response_model=Alert, responses=problem_responses(404), summary="One alert")
def read_alert(key: auth.Reader, context: Context, alert_id: AlertIdPath) -> Alert:
    with context.connection() as conn:
        return Alert(**get_alert(conn, key.tenant_id, alert_id))


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=Alert,
    responses=problem_responses(404, 409),
    summary="Acknowledge an alert (operators and admins)",
)
def acknowledge(key: auth.Operator, context: Context, alert_id: AlertIdPath) -> Alert:
    with context.connection() as conn:
        return Alert(**acknowledge_alert(conn, key.tenant_id, alert_id, by=f"key:{key.key_id}"))


@router.post(
    "/alerts/{alert_id}/resolve",
    response_model=Alert,
    responses=problem_responses(404),
    summary="Resolve an alert by hand (operators and admins)",
)
def resolve(key: auth.Operator, context: Context, alert_id: AlertIdPath) -> Alert:
    with context.connection() as conn:
        return Alert(**resolve_alert(conn, key.tenant_id, alert_id))


@router.get("/tasks", response_model=TaskPage, summary="Cleaning tasks, most recently updated first by default")
def list_tasks(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdQuery = None,
    site_id: SiteIdQuery = None,
    status: Text = None,
    start: Start = None,
    end: End = None,
    sort: TasksSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> TaskPage:
    first, last = time_range(start, end)
    with context.connection() as conn:
        page = list_page(
            conn,
            TASKS,
            key.tenant_id,
            filters={"robot_id": robot_id, "site_id": site_id, "status": status},
            start=first,
            end=last,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return TaskPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/tasks/{task_id}", response_model=Task, responses=problem_responses(404), summary="One task")
def read_task(key: auth.Reader, context: Context, task_id: TaskIdPath) -> Task:
    with context.connection() as conn:
        return Task(
            **{
                name: value
                for name, value in get_task(conn, key.tenant_id, task_id).items()
                if name in Task.model_fields
            }
        )


@router.get("/maintenance", response_model=MaintenancePage, summary="Maintenance records, newest first by default")
def list_maintenance(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdQuery = None,
    component: Text = None,
    kind: Text = None,
    reason: Text = None,
    start: Start = None,
    end: End = None,
    sort: MaintenanceSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> MaintenancePage:
    first, last = time_range(start, end)
    with context.connection() as conn:
        page = list_page(
            conn,
            MAINTENANCE,
            key.tenant_id,
            filters={"robot_id": robot_id, "component": component, "kind": kind, "reason": reason},
            start=first,
            end=last,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return MaintenancePage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/maintenance",
    response_model=Maintenance,
    status_code=201,
    responses=problem_responses(404, 409),
    summary="Record maintenance done on a robot (operators and admins)",
)
def add_maintenance(key: auth.Operator, context: Context, body: MaintenanceCreate) -> Maintenance:
    with context.connection() as conn:
        row = add_maintenance_record(conn, MaintenanceRecord(tenant_id=key.tenant_id, **body.model_dump()))
    return Maintenance(**{name: row[name] for name in Maintenance.model_fields})
