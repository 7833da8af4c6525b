"""Maintenance recommendations from predictions: what to service, by when, and windows the scheduler honours.

A component is due when it is predicted to fail within the failure model's horizon, or its predicted RUL
runs out within ``within_h``. Its service window opens soon (``lead_h``, or at once when time is short)
and closes early enough to leave a margin before the predicted failure (``margin`` of the remaining life).
:func:`schedule_fields` turns the recommendations into the schedule optimiser's ``maintenance`` windows and
``failure_risk`` per robot, so a plan keeps robots free for their service.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict


class Recommendation(BaseModel):
    """Service ``component`` of ``robot_id`` in ``[window_start, window_end]``, before ``due_at``."""

    model_config = ConfigDict(frozen=True)

    robot_id: str
    component: str
    due_at: datetime
    window_start: datetime
    window_end: datetime
    failure_probability: float | None
    rul_h: float | None
    why: str
    reasons: list[dict[str, Any]]


def recommend(
    predictions: list[dict[str, Any]],
    *,
    now: datetime,
    within_h: float = 168.0,
    service_h: float = 1.0,
    lead_h: float = 2.0,
    margin: float = 0.2,
) -> list[Recommendation]:
    """Components due within ``within_h``, soonest first (predictions as :func:`score_rows` gives them)."""
    found: list[Recommendation] = []
    for prediction in predictions:
        for component, figures in prediction["components"].items():
            predicted = bool(figures.get("failure_predicted"))
            rul_h = figures.get("rul_h")
            horizon_h = figures.get("horizon_h")
            candidates = []
            if predicted and horizon_h is not None:
                candidates.append((horizon_h, f"failure predicted within {horizon_h:g} h"))
            if rul_h is not None and rul_h <= within_h:
                candidates.append((rul_h, f"predicted remaining life {rul_h:.1f} h"))
            if not candidates:
                continue
            due_h, why = min(candidates)
            latest_start_h = max(0.0, (1 - margin) * due_h - service_h)
            start_h = min(lead_h, latest_start_h)
            found.append(
                Recommendation(
                    robot_id=prediction["robot_id"],
                    component=component,
                    due_at=now + timedelta(hours=due_h),
                    window_start=now + timedelta(hours=start_h),
                    window_end=now + timedelta(hours=max(latest_start_h, start_h) + service_h),
                    failure_probability=figures.get("failure_probability"),
                    rul_h=rul_h,
                    why=why,
                    reasons=figures.get("reasons", []),
                )
            )
    return sorted(found, key=lambda r: (r.due_at, -(r.failure_probability or 0.0)))


def schedule_fields(
    recommendations: list[Recommendation], predictions: list[dict[str, Any]], *, plan_start: datetime
) -> dict[str, dict[str, Any]]:
    """Per robot, the ``failure_risk`` and ``maintenance`` windows (seconds from ``plan_start``) of a schedule
    request (``ScheduleRobot``): one window per robot, the tightest its due components allow."""
    fields: dict[str, dict[str, Any]] = {
        p["robot_id"]: {"failure_risk": p["risk"] or 0.0, "maintenance": []} for p in predictions if p["risk"]
    }
    earliest: dict[str, Recommendation] = {}
    for recommendation in recommendations:
        current = earliest.get(recommendation.robot_id)
        if current is None or recommendation.window_end < current.window_end:
            earliest[recommendation.robot_id] = recommendation
    for robot_id, recommendation in earliest.items():
        start = max(0, round((recommendation.window_start - plan_start).total_seconds()))
        end = max(start, round((recommendation.window_end - plan_start).total_seconds()))
        fields.setdefault(robot_id, {"failure_risk": 0.0, "maintenance": []})["maintenance"] = [
            {"start": start, "end": end}
        ]
    return fields
