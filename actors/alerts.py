"""Alert rules with hysteresis: raise on one threshold, clear on another, never flap in between.

Each rule keeps per-robot counters; :class:`AlertPolicy` holds the thresholds, and a tenant can
override them for all its robots or for one model (table ``alert_policies``).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetray.schemas import RobotEvent, RobotStatus
from fleetray.wire import TelemetryStruct


class AlertPolicy(BaseModel):
    """Thresholds of every alert rule. Raise and clear levels differ so alerts do not flap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_low_raise: float = Field(default=0.15, ge=0, le=1, description="battery_low below this charge (0-1).")
    battery_low_clear: float = Field(default=0.25, ge=0, le=1, description="battery_low clears above this charge.")
    battery_hot_raise_c: float = Field(default=55.0, description="battery_overheat above this pack temperature, °C.")
    battery_hot_clear_c: float = Field(default=50.0, description="battery_overheat clears below this, °C.")
    motor_hot_raise_c: float = Field(default=85.0, description="motor_overheat:<part> above this temperature, °C.")
    motor_hot_clear_c: float = Field(default=75.0, description="motor_overheat clears below this, °C.")
    overcurrent_samples: int = Field(
        default=5, ge=1, description="overcurrent:<part> after this many consecutive samples over the part's limit."
    )
    overcurrent_clear_ratio: float = Field(
        default=0.9, gt=0, le=1, description="overcurrent clears below this share of the part's current limit."
    )
    error_burst_count: int = Field(default=3, ge=1, description="error_burst when a robot reports this many errors…")
    error_burst_window_s: float = Field(default=300, gt=0, description="…within this many seconds.")
    offline_after_s: float = Field(default=120, gt=0, description="offline after this many seconds without a message.")
    stuck_after_s: float = Field(default=180, gt=0, description="stuck when cleaning without moving for this long, s…")
    stuck_distance_m: float = Field(default=0.5, ge=0, description="…moving meaning more than this many metres.")
    anomaly_raise: float = Field(default=8.0, gt=0, description="anomaly above this online anomaly score of a signal.")
    anomaly_clear: float = Field(default=4.0, gt=0, description="anomaly clears once the score stays below this…")
    anomaly_clear_samples: int = Field(default=30, ge=1, description="…for this many samples.")
    maintenance_due_raise: float = Field(
        default=0.7, gt=0, le=1, description="maintenance_due above this predicted failure risk (0-1)."
    )
    maintenance_due_clear: float = Field(default=0.5, ge=0, lt=1, description="maintenance_due clears below this risk.")

    @model_validator(mode="after")
    def _clear_inside_raise(self) -> AlertPolicy:
        pairs = [
            ("battery_low_clear", self.battery_low_clear, ">", "battery_low_raise", self.battery_low_raise),
            ("battery_hot_clear_c", self.battery_hot_clear_c, "<", "battery_hot_raise_c", self.battery_hot_raise_c),
            ("motor_hot_clear_c", self.motor_hot_clear_c, "<", "motor_hot_raise_c", self.motor_hot_raise_c),
            ("anomaly_clear", self.anomaly_clear, "<", "anomaly_raise", self.anomaly_raise),
            (
                "maintenance_due_clear",
                self.maintenance_due_clear,
                "<",
                "maintenance_due_raise",
                self.maintenance_due_raise,
            ),
        ]
        for clear_name, clear, op, raise_name, raised in pairs:
            if (op == ">" and clear <= raised) or (op == "<" and clear >= raised):
                raise ValueError(f"{clear_name} ({clear}) must be {op} {raise_name} ({raised}) for hysteresis")
        return self


@dataclass(frozen=True)
class AlertChange:
    """An alert raised or cleared."""

    tenant_id: str
    robot_id: str
    rule: str
    raised: bool
    at: datetime
    severity: str = "warning"
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form for subscribers."""
        return {
            "tenant_id": self.tenant_id,
            "robot_id": self.robot_id,
            "rule": self.rule,
            "state": "active" if self.raised else "resolved",
            "severity": self.severity,
            "message": self.message,
            "details": self.details,
            "at": self.at.isoformat(),
        }


@functools.cache
def _overcurrent_rule(component: str) -> str:
    return f"overcurrent:{component}"


@functools.cache
def _motor_overheat_rule(component: str) -> str:
    return f"motor_overheat:{component}"


@dataclass(slots=True)
class AlertTracker:
    """One robot's alert state: which rules are active, and the counters behind hysteresis."""

    tenant_id: str
    robot_id: str
    policy: AlertPolicy
    current_limits: dict[str, float] = field(default_factory=dict)
    active: dict[str, datetime] = field(default_factory=dict)
    # Consecutive samples over its current limit, per component with a streak under way.
    overcurrent_streaks: dict[str, int] = field(default_factory=dict)
    # Samples scored below the anomaly clear level since the last one above the raise level.
    calm_samples: int = 0
    errors: deque[datetime] = field(default_factory=deque)
    stuck_since: tuple[datetime, float, float] | None = None

    def _change(
        self, rule: str, raised: bool, at: datetime, severity: str, message: str, **details: Any
    ) -> AlertChange | None:
        """Raise or clear ``rule``; None if it already is in that state.

        ``message`` is a template over ``details``, formatted only for an actual change: rules are
        evaluated for every sample, and a formatted message per sample would cost more than the rule.
        """
        if raised == (rule in self.active):
            return None
        if raised:
            self.active[rule] = at
        else:
            del self.active[rule]
        return AlertChange(
            self.tenant_id, self.robot_id, rule, raised, at, severity, message.format(**details), details
        )

    def on_telemetry(self, sample: TelemetryStruct, scored: Sequence[str], scores: list[float]) -> list[AlertChange]:
        """Evaluate the rules that look at one sample and the anomaly ``scores`` its ``scored`` signals got.

        Every sample reaches here, so a rule is only evaluated in full where its state could change: a
        threshold crossed, a streak under way, an alert active. The same outcome, at a fraction of the cost.
        """
        p, at, changes, active = self.policy, sample.ts, [], self.active
        battery = sample.battery
        if battery is not None:
            soc, temp = battery.soc, battery.temp
            low = "battery_low" in active
            if soc < p.battery_low_raise and not low:
                changes.append(self._change("battery_low", True, at, "warning", "battery at {soc:.0%}", soc=soc))
            elif soc > p.battery_low_clear and low:
                changes.append(self._change("battery_low", False, at, "warning", "battery at {soc:.0%}", soc=soc))
            # No temperature reported: the rule can neither raise nor clear.
            hot = "battery_overheat" in active
            if temp is not None and temp > p.battery_hot_raise_c and not hot:
                changes.append(
                    self._change("battery_overheat", True, at, "critical", "battery at {temp_c:.1f} °C", temp_c=temp)
                )
            elif temp is not None and temp < p.battery_hot_clear_c and hot:
                changes.append(
                    self._change("battery_overheat", False, at, "critical", "battery at {temp_c:.1f} °C", temp_c=temp)
                )
        limits, over = self.current_limits, self.overcurrent_streaks
        for name, reading in sample.components.items():
            temp_c = reading.temp_c
            # A motor under its clear level, as nearly every one is, changes something only if an alert is active.
            if temp_c is not None and (temp_c > p.motor_hot_raise_c or (active and temp_c < p.motor_hot_clear_c)):
                rule = _motor_overheat_rule(name)
                if temp_c > p.motor_hot_raise_c and rule not in active:
                    changes.append(
                        self._change(
                            rule, True, at, "critical", "{component} at {temp_c:.1f} °C", component=name, temp_c=temp_c
                        )
                    )
                elif temp_c < p.motor_hot_clear_c and rule in active:
                    changes.append(
                        self._change(
                            rule, False, at, "critical", "{component} cooled down", component=name, temp_c=temp_c
                        )
                    )
            current, limit = reading.current_a, limits.get(name)
            if limit is not None and current is not None and (current > limit or name in over or active):
                change = self._overcurrent(name, current, limit, at)
                if change is not None:
                    changes.append(change)
        change = self._stuck(sample)
        if change is not None:
            changes.append(change)
        if scores:
            highest = max(scores)
            if highest > p.anomaly_raise or "anomaly" in active:
                change = self._anomaly(scored[scores.index(highest)], highest, at)
                if change is not None:
                    changes.append(change)
        return changes

    def _overcurrent(self, name: str, current: float, limit: float, at: datetime) -> AlertChange | None:
        rule = _overcurrent_rule(name)
        if current > limit:
            streak = self.overcurrent_streaks[name] = self.overcurrent_streaks.get(name, 0) + 1
            if streak >= self.policy.overcurrent_samples and rule not in self.active:
                return self._change(
                    rule,
                    True,
                    at,
                    "warning",
                    "{component} draws {current_a:.2f} A, over its limit of {limit_a:.2f} A",
                    component=name,
                    current_a=current,
                    limit_a=limit,
                )
        else:
            self.overcurrent_streaks.pop(name, None)
            if rule in self.active and current < limit * self.policy.overcurrent_clear_ratio:
                return self._change(rule, False, at, "warning", "{component} back under its limit", component=name)
        return None

    def _stuck(self, sample: TelemetryStruct) -> AlertChange | None:
        at = sample.ts
        if sample.status is not RobotStatus.CLEANING or sample.pose is None:
            self.stuck_since = None
            return self._change("stuck", False, at, "warning", "robot moving again") if "stuck" in self.active else None
        x, y = sample.pose.x, sample.pose.y
        since = self.stuck_since
        if since is None or math.hypot(x - since[1], y - since[2]) > self.policy.stuck_distance_m:
            self.stuck_since = (at, x, y)
            return self._change("stuck", False, at, "warning", "robot moving again") if "stuck" in self.active else None
        if "stuck" not in self.active and (at - since[0]).total_seconds() >= self.policy.stuck_after_s:
            return self._change("stuck", True, at, "warning", "cleaning but has not moved", x=x, y=y)
        return None

    def _anomaly(self, signal: str, score: float, at: datetime) -> AlertChange | None:
        """The anomaly rule for a sample's highest score. Calm samples are only counted while the alert is
        active: raising it starts the count again, so those before would not count anyway."""
        if score > self.policy.anomaly_raise:
            self.calm_samples = 0
            return self._change(
                "anomaly",
                True,
                at,
                "warning",
                "{signal} is unusual (score {score:.1f})",
                signal=signal,
                score=round(score, 2),
            )
        if score < self.policy.anomaly_clear:
            self.calm_samples += 1
            if self.calm_samples >= self.policy.anomaly_clear_samples:
                return self._change("anomaly", False, at, "warning", "signals back to normal")
        return None

    def on_event(self, event: RobotEvent) -> list[AlertChange]:
        """Count errors towards a burst."""
        if event.level.value not in ("ERROR", "FATAL"):
            return []
        self.errors.append(event.ts)
        self._forget_old_errors(event.ts)
        if len(self.errors) >= self.policy.error_burst_count:
            change = self._change(
                "error_burst",
                True,
                event.ts,
                "critical",
                "{errors} errors within {window_s:.0f} s",
                errors=len(self.errors),
                window_s=self.policy.error_burst_window_s,
                last_code=event.code,
            )
            return [change] if change else []
        return []

    def on_tick(self, now: datetime, last_seen: datetime | None) -> list[AlertChange]:
        """Rules that fire on silence: offline robots, error bursts that died down."""
        changes = []
        if last_seen is not None:
            silent = (now - last_seen).total_seconds()
            if silent > self.policy.offline_after_s:
                changes.append(
                    self._change(
                        "offline", True, now, "warning", "no message for {silent_s:.0f} s", silent_s=round(silent, 1)
                    )
                )
        self._forget_old_errors(now)
        if not self.errors:
            changes.append(self._change("error_burst", False, now, "critical", "no recent errors"))
        return [change for change in changes if change is not None]

    def on_heard(self, at: datetime) -> list[AlertChange]:
        """Any message clears the offline alert."""
        if "offline" not in self.active:  # every message comes here: the common case costs one lookup
            return []
        return [self._change("offline", False, at, "warning", "robot reporting again")]

    def _forget_old_errors(self, now: datetime) -> None:
        while self.errors and (now - self.errors[0]).total_seconds() > self.policy.error_burst_window_s:
            self.errors.popleft()
