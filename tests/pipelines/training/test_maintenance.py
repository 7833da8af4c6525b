"""Recommendations: what is due, soonest first, with windows a schedule request takes as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetray.scheduling.model import ScheduleRobot
from pipelines.training.maintenance import recommend, schedule_fields

NOW = datetime(2026, 6, 1, 8, tzinfo=UTC)


def _prediction(robot_id: str, **components: dict) -> dict:
    risk = max((c.get("failure_probability") or 0.0) for c in components.values())
    return {"robot_id": robot_id, "risk": risk, "components": components}


def test_due_components_come_soonest_first_with_a_margin_before_failure() -> None:
    predictions = [
        _prediction("r1", vacuum={"failure_probability": 0.9, "failure_predicted": True, "horizon_h": 24, "rul_h": 30}),
        _prediction("r2", filter={"failure_probability": 0.1, "failure_predicted": False, "horizon_h": 24, "rul_h": 3}),
        _prediction(
            "r3", wheels={"failure_probability": 0.2, "failure_predicted": False, "horizon_h": 24, "rul_h": 900}
        ),
    ]
    found = recommend(predictions, now=NOW, within_h=168, service_h=1.0, lead_h=2.0)
    assert [(r.robot_id, r.component) for r in found] == [("r2", "filter"), ("r1", "vacuum")]
    filter_due, vacuum_due = found
    assert filter_due.due_at == NOW + timedelta(hours=3) and "remaining life 3.0 h" in filter_due.why
    assert filter_due.window_end <= filter_due.due_at - timedelta(hours=0.5)  # 20 % of 3 h left as a margin
    assert vacuum_due.due_at == NOW + timedelta(hours=24) and "failure predicted within 24 h" in vacuum_due.why
    assert vacuum_due.window_start == NOW + timedelta(hours=2)


def test_schedule_fields_fit_the_optimiser_request() -> None:
    predictions = [
        _prediction(
            "r1",
            vacuum={"failure_probability": 0.9, "failure_predicted": True, "horizon_h": 24, "rul_h": 30},
            pump={"failure_probability": 0.7, "failure_predicted": True, "horizon_h": 24, "rul_h": 10},
        ),
        _prediction("r2", pump={"failure_probability": 0.3, "failure_predicted": False, "horizon_h": 24}),
    ]
    found = recommend(predictions, now=NOW)
    fields = schedule_fields(found, predictions, plan_start=NOW + timedelta(hours=1))
    assert fields["r2"] == {"failure_risk": 0.3, "maintenance": []}
    (window,) = fields["r1"]["maintenance"]
    assert fields["r1"]["failure_risk"] == 0.9 and window["start"] == 3600  # the pump's window, the tighter one
    robot = ScheduleRobot(id="r1", start_location="dock", **fields["r1"])
    assert robot.maintenance[0].end == window["end"] <= 7 * 3600
