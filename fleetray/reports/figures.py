"""A tenant's week in figures, read from what the platform stores: tasks, events, alerts, rollups, maintenance.

- **Utilisation**: hours spent on tasks (start to finish, clipped to the week) over the week's 168 hours.
- **Cleaned area**: the area of tasks that finished in the week, by the day they finished and by site.
- **Downtime**: from an ERROR or FATAL event until the robot is back (``MAINTENANCE_COMPLETED``, or its next
  task starting), clipped to the week; overlapping episodes of one robot count once, under the first cause.
- **Battery health**: charge cycles at the week's end and added in it, low-battery warnings, replacements.
- **Components due**: open ``maintenance_due`` alerts (the failure models' predictions), and parts whose
  hours of use have reached nine tenths of the hours at which this tenant's parts of that kind were
  replaced or failed (the median of at least three such records).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel

from fleetray.errors import ReportError
from fleetray.reports.week import ReportWeek

DOWN_LEVELS = ("ERROR", "FATAL")
RECOVERY_CODE = "MAINTENANCE_COMPLETED"
DUE_SHARE_OF_LIFE = 0.9
MIN_LIFE_RECORDS = 3
COMPONENTS = ("main_brush", "side_brush", "vacuum", "pump", "wheels")  # a filter is cleaned, its hours go on


class RobotWeek(BaseModel):
    robot_id: str
    site_id: str | None
    model: str
    cleaning_h: float
    utilisation: float
    cleaned_m2: float
    tasks_completed: int
    tasks_failed: int
    downtime_h: float


class DowntimeCause(BaseModel):
    cause: str
    episodes: int
    hours: float
    robots: int


class AlertSummary(BaseModel):
    rule: str
    severity: str
    raised: int
    acknowledged: int
    resolved: int
    open_at_end: int
    median_minutes_to_acknowledge: float | None


class BatteryHealth(BaseModel):
    robot_id: str
    cycles: float | None
    cycles_added: float | None
    low_battery_warnings: int
    replaced: bool


class ComponentDue(BaseModel):
    robot_id: str
    component: str
    why: str
    usage_h: float | None = None
    typical_life_h: float | None = None
    risk: float | None = None


class WeeklyFigures(BaseModel):
    """Everything a weekly fleet report shows, as data (the JSON form of the report)."""

    tenant_id: str
    tenant_name: str
    week: str
    start: datetime
    end: datetime
    complete: bool
    generated_at: datetime
    robots: int
    sites: int
    cleaning_h: float
    utilisation: float
    cleaned_m2: float
    tasks_completed: int
    tasks_failed: int
    task_failure_reasons: dict[str, int]
    cleaned_m2_by_day: dict[str, float]
    cleaned_m2_by_site: dict[str, float]
    downtime_h: float
    downtime: list[DowntimeCause]
    alerts: list[AlertSummary]
    alerts_by_day: dict[str, dict[str, int]]
    battery: list[BatteryHealth]
    components_due: list[ComponentDue]
    per_robot: list[RobotWeek]


def weekly_figures(conn: psycopg.Connection, tenant_id: str, week: ReportWeek, *, now: datetime) -> WeeklyFigures:
    """The figures of ``tenant_id``'s robots in ``week`` (up to ``now`` if the week is still running).

    Raises:
        ReportError: the tenant does not exist.
    """
    tenant = conn.execute("SELECT name FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone()
    if tenant is None:
        raise ReportError(f"tenant: no tenant {tenant_id!r} (see `fleetray tenants list`)")
    start, end = week.start, min(week.end, now)
    window = {"tenant": tenant_id, "start": start, "end": end}
    robots = conn.execute(
        "SELECT robot_id, site_id, manufacturer || '/' || model FROM robots WHERE tenant_id = %s ORDER BY robot_id",
        (tenant_id,),
    ).fetchall()
    sites = conn.execute("SELECT count(*) FROM sites WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    tasks = _tasks(conn, window)
    episodes = _downtime_episodes(conn, window)
    per_robot = _per_robot(robots, tasks, episodes, start=start, end=end)
    completed = [t for t in tasks if t["status"] == "completed" and _within(t["finished_at"], start, end)]
    failed = [t for t in tasks if t["status"] == "failed" and _within(t["finished_at"], start, end)]
    cleaned_by_day = {day.isoformat(): 0.0 for day in week.days()}
    cleaned_by_site: dict[str, float] = defaultdict(float)
    site_of = {robot_id: site for robot_id, site, _ in robots}
    for task in completed + failed:
        area = task["cleaned_m2"] or 0.0
        cleaned_by_day[task["finished_at"].astimezone(UTC).date().isoformat()] += area
        cleaned_by_site[task["site_id"] or site_of.get(task["robot_id"]) or "no site"] += area
    failure_reasons: dict[str, int] = defaultdict(int)
    for task in failed:
        failure_reasons[task["reason"] or "unknown"] += 1
    cleaning_h = sum(r.cleaning_h for r in per_robot)
    return WeeklyFigures(
        tenant_id=tenant_id,
        tenant_name=tenant[0],
        week=week.label,
        start=start,
        end=end,
        complete=end >= week.end,
        generated_at=now,
        robots=len(robots),
        sites=sites,
        cleaning_h=round(cleaning_h, 2),
        utilisation=round(cleaning_h / (len(robots) * (end - start).total_seconds() / 3600), 4) if robots else 0.0,
        cleaned_m2=round(sum(cleaned_by_day.values()), 1),
        tasks_completed=len(completed),
        tasks_failed=len(failed),
        task_failure_reasons=dict(sorted(failure_reasons.items(), key=lambda kv: -kv[1])),
        cleaned_m2_by_day={day: round(area, 1) for day, area in cleaned_by_day.items()},
        cleaned_m2_by_site={site: round(area, 1) for site, area in sorted(cleaned_by_site.items())},
        downtime_h=round(sum(e["hours"] for e in episodes), 2),
        downtime=_downtime_causes(episodes),
        alerts=_alerts(conn, window),
        alerts_by_day=_alerts_by_day(conn, window, week),
        battery=_battery(conn, window),
        components_due=_components_due(conn, window),
        per_robot=per_robot,
    )


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query, params).fetchall()


def _tasks(conn: psycopg.Connection, window: dict[str, Any]) -> list[dict[str, Any]]:
    """Tasks that ran during the window or finished in it."""
    return _rows(
        conn,
        "SELECT task_id, robot_id, site_id, status, cleaned_m2, reason, started_at, finished_at, updated_at "
        "FROM tasks WHERE tenant_id = %(tenant)s AND started_at < %(end)s "
        "AND coalesce(finished_at, updated_at) >= %(start)s",
        window,
    )


def _downtime_episodes(conn: psycopg.Connection, window: dict[str, Any]) -> list[dict[str, Any]]:
    """Each robot's down periods that overlap the window, merged where they overlap, clipped to it."""
    rows = _rows(
        conn,
        """
        SELECT e.robot_id, coalesce(e.component, e.code) AS cause, e.ts AS began,
               coalesce(least(
                   (SELECT min(r.ts) FROM events r
                    WHERE r.tenant_id = e.tenant_id AND r.robot_id = e.robot_id AND r.ts > e.ts
                      AND r.code = %(recovery)s),
                   (SELECT min(t.ts) FROM task_events t
                    WHERE t.tenant_id = e.tenant_id AND t.robot_id = e.robot_id AND t.ts > e.ts
                      AND t.type = 'started')
               ), %(end)s) AS ended
        FROM events e
        WHERE e.tenant_id = %(tenant)s AND e.level = ANY(%(levels)s) AND e.ts < %(end)s
          AND e.ts >= %(start)s - interval '7 days'
        ORDER BY e.robot_id, e.ts
        """,
        {**window, "recovery": RECOVERY_CODE, "levels": list(DOWN_LEVELS)},
    )
    merged: list[dict[str, Any]] = []
    for row in rows:
        last = merged[-1] if merged else None
        if last is not None and last["robot_id"] == row["robot_id"] and row["began"] <= last["ended"]:
            last["ended"] = max(last["ended"], row["ended"])
            continue
        merged.append(dict(row))
    episodes = []
    for episode in merged:
        began, ended = max(episode["began"], window["start"]), min(episode["ended"], window["end"])
        if ended > began:
            episodes.append({**episode, "hours": (ended - began).total_seconds() / 3600})
    return episodes


def _downtime_causes(episodes: list[dict[str, Any]]) -> list[DowntimeCause]:
    by_cause: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for episode in episodes:
        by_cause[episode["cause"]].append(episode)
    causes = [
        DowntimeCause(
            cause=cause,
            episodes=len(group),
            hours=round(sum(e["hours"] for e in group), 2),
            robots=len({e["robot_id"] for e in group}),
        )
        for cause, group in by_cause.items()
    ]
    return sorted(causes, key=lambda c: (-c.hours, c.cause))


def _per_robot(
    robots: list[tuple[str, str | None, str]],
    tasks: list[dict[str, Any]],
    episodes: list[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
) -> list[RobotWeek]:
    cleaning_h: dict[str, float] = defaultdict(float)
    cleaned_m2: dict[str, float] = defaultdict(float)
    completed: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for task in tasks:
        robot = task["robot_id"]
        began = max(task["started_at"], start)
        ended = min(task["finished_at"] or task["updated_at"], end)
        cleaning_h[robot] += max((ended - began).total_seconds(), 0.0) / 3600
        if _within(task["finished_at"], start, end) and task["status"] in ("completed", "failed"):
            cleaned_m2[robot] += task["cleaned_m2"] or 0.0
            (completed if task["status"] == "completed" else failed)[robot] += 1
    downtime_h: dict[str, float] = defaultdict(float)
    for episode in episodes:
        downtime_h[episode["robot_id"]] += episode["hours"]
    hours = (end - start).total_seconds() / 3600
    return [
        RobotWeek(
            robot_id=robot_id,
            site_id=site_id,
            model=model,
            cleaning_h=round(cleaning_h[robot_id], 2),
            utilisation=round(cleaning_h[robot_id] / hours, 4) if hours else 0.0,
            cleaned_m2=round(cleaned_m2[robot_id], 1),
            tasks_completed=completed[robot_id],
            tasks_failed=failed[robot_id],
            downtime_h=round(downtime_h[robot_id], 2),
        )
        for robot_id, site_id, model in robots
    ]


def _alerts(conn: psycopg.Connection, window: dict[str, Any]) -> list[AlertSummary]:
    rows = _rows(
        conn,
        """
        SELECT rule, severity, count(*) AS raised,
               count(acknowledged_at) FILTER (WHERE acknowledged_at < %(end)s) AS acknowledged,
               count(resolved_at) FILTER (WHERE resolved_at < %(end)s) AS resolved,
               count(*) FILTER (WHERE resolved_at IS NULL OR resolved_at >= %(end)s) AS open_at_end,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - raised_at) / 60)
                   FILTER (WHERE acknowledged_at < %(end)s) AS median_minutes_to_acknowledge
        FROM alerts
        WHERE tenant_id = %(tenant)s AND raised_at >= %(start)s AND raised_at < %(end)s
        GROUP BY rule, severity
        ORDER BY count(*) DESC, rule, severity
        """,
        window,
    )
    for row in rows:
        minutes = row["median_minutes_to_acknowledge"]
        row["median_minutes_to_acknowledge"] = None if minutes is None else round(float(minutes), 1)
    return [AlertSummary(**row) for row in rows]


def _alerts_by_day(conn: psycopg.Connection, window: dict[str, Any], week: ReportWeek) -> dict[str, dict[str, int]]:
    by_day: dict[str, dict[str, int]] = {day.isoformat(): {} for day in week.days()}
    for day, rule, count in conn.execute(
        "SELECT (raised_at AT TIME ZONE 'UTC')::date, rule, count(*) FROM alerts "
        "WHERE tenant_id = %(tenant)s AND raised_at >= %(start)s AND raised_at < %(end)s GROUP BY 1, 2 ORDER BY 1, 2",
        window,
    ).fetchall():
        by_day[day.isoformat()][rule] = count
    return by_day


def _battery(conn: psycopg.Connection, window: dict[str, Any]) -> list[BatteryHealth]:
    rows = _rows(
        conn,
        """
        SELECT r.robot_id, last_seen.last AS cycles, last_seen.last - first_seen.last AS cycles_added,
               (SELECT count(*) FROM events e
                WHERE e.tenant_id = r.tenant_id AND e.robot_id = r.robot_id AND e.code = 'BATTERY_LOW'
                  AND e.ts >= %(start)s AND e.ts < %(end)s) AS low_battery_warnings,
               EXISTS (SELECT 1 FROM maintenance_records m
                       WHERE m.tenant_id = r.tenant_id AND m.robot_id = r.robot_id AND m.component = 'battery'
                         AND m.kind = 'replacement' AND m.performed_at >= %(start)s
                         AND m.performed_at < %(end)s) AS replaced
        FROM robots r
        LEFT JOIN LATERAL (
            SELECT t.last FROM telemetry_1m t
            WHERE t.tenant_id = r.tenant_id AND t.robot_id = r.robot_id AND t.metric = 'metrics.battery_cycles'
              AND t.bucket >= %(start)s AND t.bucket < %(end)s
            ORDER BY t.bucket DESC LIMIT 1
        ) last_seen ON true
        LEFT JOIN LATERAL (
            SELECT t.last FROM telemetry_1m t
            WHERE t.tenant_id = r.tenant_id AND t.robot_id = r.robot_id AND t.metric = 'metrics.battery_cycles'
              AND t.bucket >= %(start)s AND t.bucket < %(end)s
            ORDER BY t.bucket LIMIT 1
        ) first_seen ON true
        WHERE r.tenant_id = %(tenant)s
        ORDER BY r.robot_id
        """,
        window,
    )
    for row in rows:
        if row["replaced"] or (row["cycles_added"] is not None and row["cycles_added"] < 0):
            row["cycles_added"] = None  # a new pack counts from zero: the week's difference means nothing
        for key in ("cycles", "cycles_added"):
            row[key] = None if row[key] is None else round(float(row[key]), 2)
    return [BatteryHealth(**row) for row in rows]


def _components_due(conn: psycopg.Connection, window: dict[str, Any]) -> list[ComponentDue]:
    due: list[ComponentDue] = []
    for robot_id, details in conn.execute(
        "SELECT robot_id, details FROM alerts WHERE tenant_id = %(tenant)s AND rule = 'maintenance_due' "
        "AND raised_at < %(end)s AND (resolved_at IS NULL OR resolved_at >= %(end)s) ORDER BY robot_id",
        window,
    ).fetchall():
        for component, risk in sorted((details or {}).get("components", {}).items()):
            due.append(ComponentDue(robot_id=robot_id, component=component, why="predicted failure", risk=risk))
    lives: dict[str, list[float]] = defaultdict(list)
    for component, usage_h in conn.execute(
        "SELECT component, usage_h FROM maintenance_records WHERE tenant_id = %(tenant)s "
        "AND kind IN ('replacement', 'repair') AND usage_h > 0 AND performed_at < %(end)s",
        window,
    ).fetchall():
        lives[component].append(float(usage_h))
    typical = {c: statistics.median(v) for c, v in lives.items() if len(v) >= MIN_LIFE_RECORDS and c in COMPONENTS}
    if not typical:
        return due
    predicted = {(d.robot_id, d.component) for d in due}
    metrics = {f"components.{c}.usage_h": c for c in typical}
    for robot_id, metric, usage_h in conn.execute(
        """
        SELECT r.robot_id, m.metric, latest.last
        FROM robots r CROSS JOIN unnest(%(metrics)s::text[]) AS m(metric)
        JOIN LATERAL (
            SELECT t.last FROM telemetry_1m t
            WHERE t.tenant_id = r.tenant_id AND t.robot_id = r.robot_id AND t.metric = m.metric
              AND t.bucket >= %(start)s AND t.bucket < %(end)s
            ORDER BY t.bucket DESC LIMIT 1
        ) latest ON true
        WHERE r.tenant_id = %(tenant)s
        ORDER BY r.robot_id, m.metric
        """,
        {**window, "metrics": list(metrics)},
    ).fetchall():
        component = metrics[metric]
        life = typical[component]
        if usage_h >= DUE_SHARE_OF_LIFE * life and (robot_id, component) not in predicted:
            due.append(
                ComponentDue(
                    robot_id=robot_id,
                    component=component,
                    why=f"{usage_h / life:.0%} of the typical life",
                    usage_h=round(float(usage_h), 1),
                    typical_life_h=round(life, 1),
                )
            )
    return due
