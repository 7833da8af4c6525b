"""Downsampling: full-rate readings in, one telemetry sample a second (at most) out.

Each stream has its own interval (the remote config's ``streams``, else the defaults here): position
every second, battery every ten, the IMU's mean, max and last each second, status on change. A sample
goes out at each tick of the clock that some stream is due at, and at once when the status changes.
The clock is the readings' own time, so a bag replayed faster than recorded yields as many samples as
the robot would have sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from edge.readings import Reading
from fleetray.schemas import Telemetry

logger = logging.getLogger(__name__)

NS = 1_000_000_000
DEFAULT_INTERVALS_S = {"pose": 1.0, "battery": 10.0, "imu": 1.0, "diagnostics": 1.0, "system": 5.0, "status": 0.0}
DEFAULT_INTERVAL_S = 1.0
TICK_NS = NS


@dataclass
class _Stat:
    count: int = 0
    total: float = 0.0
    high: float = float("-inf")
    last: Any = None

    def add(self, value: Any) -> None:
        self.last = value
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.count += 1
            self.total += value
            self.high = max(self.high, value)


@dataclass
class _Stream:
    stats: tuple[str, ...] = ("last",)
    values: dict[str, _Stat] = field(default_factory=dict)
    last_sent_ns: int = -1

    def add(self, reading: Reading) -> None:
        self.stats = reading.stats
        for name, value in reading.values.items():
            self.values.setdefault(name, _Stat()).add(value)

    def drain(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, stat in self.values.items():
            if stat.count and "mean" in self.stats:
                if name.startswith("metrics."):
                    out[f"{name}_mean"] = stat.total / stat.count
                    if "max" in self.stats:
                        out[f"{name}_max"] = stat.high
                    if "last" in self.stats:
                        out[name] = stat.last
                    continue
                out[name] = stat.total / stat.count
            else:
                out[name] = stat.last
        self.values.clear()
        return out


class Sampler:
    """Folds readings into streams and says when a telemetry sample is due."""

    def __init__(self, tenant_id: str, robot_id: str, intervals: Callable[[str], float | None]) -> None:
        self.tenant_id = tenant_id
        self.robot_id = robot_id
        self._intervals = intervals
        self._streams: dict[str, _Stream] = {}
        self._next_tick_ns: int | None = None
        self.clock_ns = 0
        self.status = "idle"
        self.task_id: str | None = None
        self._explicit_status = False
        self._status_changed = False
        self._charging = False
        self._moving = False
        self._ready: list[dict[str, Any]] = []

    def interval_s(self, stream: str) -> float:
        configured = self._intervals(stream)
        if configured is not None:
            return configured
        return DEFAULT_INTERVALS_S.get(stream, DEFAULT_INTERVAL_S)

    def add(self, reading: Reading) -> None:
        """Fold in a reading; the samples due before it (a tick it passes) are kept for :meth:`advance`."""
        if self._next_tick_ns is None:  # the first reading starts the ticks, however late the pipeline looks
            self._next_tick_ns = (reading.timestamp_ns // TICK_NS + 1) * TICK_NS
        elif reading.timestamp_ns >= self._next_tick_ns:
            self._ready += self._due(reading.timestamp_ns)
        self.clock_ns = max(self.clock_ns, reading.timestamp_ns)
        values = reading.values
        if "status" in values or "task_id" in values:
            self._apply_status(values)
            return
        if "velocity.linear" in values:
            self._moving = abs(values["velocity.linear"]) > 0.05 or abs(values.get("velocity.angular", 0.0)) > 0.1
        if "battery.charging" in values:
            self._charging = bool(values["battery.charging"])
        self._streams.setdefault(reading.stream, _Stream()).add(reading)
        if not self._explicit_status:
            self._set_status("charging" if self._charging else "moving" if self._moving else "idle")

    def _apply_status(self, values: dict[str, Any]) -> None:
        if "task_id" in values and values["task_id"] != self.task_id:
            self.task_id = values["task_id"]
            self._status_changed = True
        if values.get("status"):
            self._explicit_status = True
            self._set_status(values["status"])

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self._status_changed = True

    def advance(self, now_ns: int) -> list[dict[str, Any]]:
        """The telemetry samples due by ``now_ns`` (as field dicts, without seq)."""
        ready, self._ready = self._ready, []
        return ready + self._due(now_ns)

    def _due(self, now_ns: int) -> list[dict[str, Any]]:
        self.clock_ns = max(self.clock_ns, now_ns)
        if self._next_tick_ns is None:
            self._next_tick_ns = (self.clock_ns // TICK_NS + 1) * TICK_NS
        samples = []
        if self._status_changed:
            samples.append(self._sample(self.clock_ns, force=True))
            self._status_changed = False
        if self.clock_ns - self._next_tick_ns > 2 * TICK_NS:  # a silent gap (or a clock jump): one tick covers it
            self._next_tick_ns = self.clock_ns // TICK_NS * TICK_NS
        while self.clock_ns >= self._next_tick_ns:
            sample = self._sample(self._next_tick_ns, force=False)
            if sample is not None:
                samples.append(sample)
            self._next_tick_ns += TICK_NS
        return [sample for sample in samples if sample is not None]

    def _sample(self, at_ns: int, *, force: bool) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        for name, stream in self._streams.items():
            if not stream.values or force:  # a status change goes out alone; the streams keep their pace
                continue
            interval_ns = int(self.interval_s(name) * NS)
            if stream.last_sent_ns < 0 or at_ns - stream.last_sent_ns >= interval_ns or interval_ns == 0:
                fields.update(stream.drain())
                stream.last_sent_ns = at_ns
        if not fields and not force:
            return None
        fields["status"] = self.status
        if self.task_id:
            fields["task_id"] = self.task_id
        fields["ts_ns"] = at_ns
        return fields

    def telemetry(self, fields: dict[str, Any], seq: int) -> Telemetry:
        """The sample as a validated message; a field out of the wire format's range is left out (and logged)."""
        document = nest(fields)
        document.update(
            tenant_id=self.tenant_id,
            robot_id=self.robot_id,
            seq=seq,
            ts=datetime.fromtimestamp(fields["ts_ns"] / NS, tz=timezone.utc),
        )
        for _ in range(8):
            try:
                return Telemetry.model_validate(document)
            except ValidationError as err:
                for problem in err.errors(include_url=False):
                    logger.warning(
                        "telemetry field %s dropped: %s (got %r)",
                        ".".join(map(str, problem["loc"])),
                        problem["msg"],
                        problem.get("input"),
                    )
                    _remove(document, problem["loc"])
        return Telemetry.model_validate(document)


def nest(fields: dict[str, Any]) -> dict[str, Any]:
    """Flat names (``battery.soc``, ``components.vacuum.current_a``) into the wire format's nesting."""
    document: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "ts_ns":
            continue
        head, _, rest = name.partition(".")
        if not rest:
            document[head] = value
        elif head == "components":
            component, _, reading = rest.partition(".")
            document.setdefault("components", {}).setdefault(component, {})[reading] = value
        else:
            document.setdefault(head, {})[rest] = value
    pose = document.get("pose")
    if pose is not None and not {"x", "y", "theta"} <= pose.keys():
        del document["pose"]
    velocity = document.get("velocity")
    if velocity is not None:
        velocity.setdefault("angular", 0.0)
        if "linear" not in velocity:
            del document["velocity"]
    battery = document.get("battery")
    if battery is not None and "soc" not in battery:
        del document["battery"]
    return document


def _remove(document: dict[str, Any], loc: tuple[Any, ...]) -> None:
    target: Any = document
    for part in loc[:-1]:
        target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return
    if isinstance(target, dict):
        target.pop(loc[-1], None)
    if len(loc) > 1 and loc[0] in ("pose", "velocity", "battery"):
        document.pop(loc[0], None)
