"""The fleet simulator's engine: every robot stepped together, one simulated second at a time.

State lives in numpy arrays indexed by robot (and by component), so a step costs the same few
dozen array operations for 5 robots or 5,000; Python loops run only over the robots something
happens to (a task starts, a part fails). One seeded generator drives everything, drawn in the
same order every step, so a seed reproduces a run byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from fleetray.errors import SimulationError
from fleetray.inventory import MaintenanceRecord, RobotRecord, SiteRecord
from fleetray.schemas import EventLevel, RobotEvent, TaskEvent, TaskEventType
from fleetray.sim.catalog import BATTERY_MIN_HEALTH, CATALOG, COMPONENT_NAMES
from fleetray.sim.columns import METRIC_NAMES, STATUS_NAMES, TelemetryColumns, WearSamples

IDLE, CLEANING, CHARGING, DOCKED, MOVING, ERROR = range(6)
AMBIENT_C = 22.0
TASK_START_PER_S = 1 / 900
WARNINGS_PER_H_AT_FAILURE = 8.0
WARNING_STEEPNESS = 8.0
PATH_BLOCKED_PER_S = 1 / 7200
WEAR_SAMPLE_EVERY_S = 60
NO_FAILED_PART = -1
BATTERY = -2


@dataclass(frozen=True)
class SimConfig:
    """What to simulate.

    Attributes:
        tenant_id: the tenant owning the fleet.
        robots: fleet size.
        start: simulated time of the first step (timezone-aware, whole seconds).
        seed: drives every random choice; the same seed gives the same bytes.
        sites: number of sites (default: one per 8 robots).
        offline_per_day: expected connection losses per robot per day (no telemetry meanwhile).
        service_interval_h: hours between a technician's preventive visits to each robot.
        initial_wear_max: parts start with a wear drawn up to this share of their life, so
            failures happen within the first days rather than months in.
        wear_rate: how many times faster than real parts wear out and batteries fade; above 1
            it compresses months of ageing into days (tests and demos), at 1 it is realistic.
    """

    tenant_id: str = "demo"
    robots: int = 50
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    seed: int = 0
    sites: int | None = None
    offline_per_day: float = 0.5
    service_interval_h: float = 168.0
    initial_wear_max: float = 0.9
    wear_rate: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.robots <= 1_000_000:
            raise SimulationError(f"robots must be between 1 and 1000000, got {self.robots}")
        if self.sites is not None and not 1 <= self.sites <= self.robots:
            raise SimulationError(f"sites must be between 1 and robots ({self.robots}), got {self.sites}")
        if self.start.tzinfo is None:
            raise SimulationError(f"start must be timezone-aware, got {self.start.isoformat()}")
        if self.start.microsecond:
            raise SimulationError(f"start must be a whole second, got {self.start.isoformat()}")
        if not 0 <= self.initial_wear_max < 1:
            raise SimulationError(f"initial_wear_max must be in [0, 1), got {self.initial_wear_max}")
        if not 0 < self.wear_rate <= 10_000:
            raise SimulationError(f"wear_rate must be in (0, 10000], got {self.wear_rate}")
        if self.offline_per_day < 0 or self.service_interval_h <= 0:
            raise SimulationError("offline_per_day must be >= 0 and service_interval_h > 0")


@dataclass(frozen=True)
class FailureRecord:
    """Ground truth: a part failed and stopped the robot at ``ts``.

    ``usage`` is the part's hours of use, or for the battery its equivalent full cycles.
    """

    tenant_id: str
    robot_id: str
    component: str
    ts: datetime
    usage: float


@dataclass
class SimChunk:
    """What the fleet produced over ``[start, end)``."""

    start: datetime
    end: datetime
    telemetry: TelemetryColumns
    events: list[RobotEvent]
    task_events: list[TaskEvent]
    maintenance: list[MaintenanceRecord]
    failures: list[FailureRecord]
    wear: WearSamples


class FleetSimulator:
    """A simulated fleet. Call :meth:`run` to advance it chunk by chunk."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        rng = self._rng
        n = self.n = config.robots
        n_sites = config.sites or max(1, math.ceil(n / 8))
        self.now = int(config.start.timestamp())

        self.model_index = rng.integers(0, len(CATALOG), n)
        self.site_index = np.arange(n) % n_sites
        site_w = rng.uniform(30, 120, n_sites)
        site_h = rng.uniform(20, 80, n_sites)
        self.width, self.height = site_w[self.site_index], site_h[self.site_index]
        self.sites = [
            SiteRecord(
                tenant_id=config.tenant_id,
                site_id=f"site-{s:03d}",
                name=f"Site {s:03d}",
                area_m2=round(float(site_w[s] * site_h[s]), 1),
                metadata={"width_m": round(float(site_w[s]), 2), "height_m": round(float(site_h[s]), 2)},
            )
            for s in range(n_sites)
        ]
        self.robot_ids = [f"r{i:05d}" for i in range(n)]
        self.robots = [
            RobotRecord(
                tenant_id=config.tenant_id,
                robot_id=self.robot_ids[i],
                manufacturer=CATALOG[m].manufacturer,
                model=CATALOG[m].model,
                serial=f"{CATALOG[m].manufacturer[:3].upper()}{config.seed:04d}{i:06d}",
                site_id=self.sites[self.site_index[i]].site_id,
                capabilities=list(CATALOG[m].capabilities),
                metadata={
                    "current_limits": {
                        spec.name: spec.current_limit_a
                        for spec in CATALOG[m].components
                        if spec.current_limit_a is not None
                    }
                },
            )
            for i, m in enumerate(self.model_index)
        ]

        c = len(COMPONENT_NAMES)
        self.has = np.zeros((n, c), bool)
        self.nominal_current = np.zeros((n, c))
        self.current_gain = np.zeros((n, c))
        self.nominal_rpm = np.zeros((n, c))
        self.mean_life = np.ones((n, c))
        self.life_shape = np.ones((n, c))
        self.runs_moving = np.zeros((n, c), bool)
        self.is_motor = np.zeros((n, c), bool)
        self.warning_codes = np.empty((n, c), object)
        self.failure_codes = np.empty((n, c), object)
        for i, m in enumerate(self.model_index):
            for spec in CATALOG[m].components:
                j = COMPONENT_NAMES.index(spec.name)
                self.has[i, j] = True
                self.nominal_current[i, j] = spec.nominal_current_a or 0.0
                self.is_motor[i, j] = spec.nominal_current_a is not None
                self.current_gain[i, j] = spec.wear_current_gain
                self.nominal_rpm[i, j] = spec.nominal_rpm or 0.0
                self.mean_life[i, j] = spec.mean_life_h
                self.life_shape[i, j] = spec.life_shape
                self.runs_moving[i, j] = spec.runs_when == "moving"
                self.warning_codes[i, j] = spec.warning_code
                self.failure_codes[i, j] = spec.failure_code
        self.vacuum = COMPONENT_NAMES.index("vacuum")
        self.filter = COMPONENT_NAMES.index("filter")
        self.wheels = COMPONENT_NAMES.index("wheels")
        self.main_brush = COMPONENT_NAMES.index("main_brush")

        # Weibull scale giving each part its catalogue mean life.
        self._life_scale = self.mean_life / np.vectorize(lambda k: math.gamma(1 + 1 / k))(self.life_shape)
        self.life_h = self._draw_life(np.ones((n, c), bool), np.ones((n, c)))
        self.wear = rng.uniform(0, config.initial_wear_max, (n, c)) * self.has
        self.usage_h = self.wear * self.life_h
        self.temp = np.full((n, c), AMBIENT_C)

        models = [CATALOG[m] for m in self.model_index]
        self.capacity_ah = np.array([m.battery_capacity_ah for m in models])
        self.cells = np.array([m.battery_cells for m in models], float)
        self.base_current = np.array([m.base_current_a for m in models])
        self.charge_current = np.array([m.charge_current_a for m in models])
        self.fade = np.array([m.capacity_fade_per_cycle for m in models]) * rng.uniform(0.8, 1.2, n)
        self.clean_speed = np.array([m.cleaning_speed_mps for m in models])
        self.clean_width = np.array([m.cleaning_width_m for m in models])
        max_cycles = (1 - BATTERY_MIN_HEALTH) / self.fade
        self.cycles = rng.uniform(0, config.initial_wear_max, n) * max_cycles
        self.soc = rng.uniform(0.5, 1.0, n)
        self.battery_temp = np.full(n, AMBIENT_C)

        self.status = np.full(n, DOCKED, np.int8)
        self.x = rng.uniform(0.5, 2.0, n)
        self.y = rng.uniform(0.5, 2.0, n)
        self.theta = rng.uniform(-math.pi, math.pi, n)
        self.angular = np.zeros(n)
        self.speed = np.zeros(n)
        self.until = np.zeros(n, np.int64)
        self.heading_to_task = np.zeros(n, bool)
        self.task_area = np.zeros(n)
        self.cleaned = np.zeros(n)
        self.task_started = np.zeros(n, np.int64)
        self.task_number = np.zeros(n, np.int64)
        self.failed_part = np.full(n, NO_FAILED_PART)
        self.offline_until = np.zeros(n, np.int64)
        self.next_service = self.now + (rng.uniform(0, 1, n) * config.service_interval_h * 3600).astype(np.int64)
        self.disk = rng.uniform(20, 60, n)

        self.telemetry_seq = np.zeros(n, np.int64)
        self.event_seq = np.zeros(n, np.int64)
        self.task_seq = np.zeros(n, np.int64)

    @property
    def time(self) -> datetime:
        """The simulated time of the next step."""
        return datetime.fromtimestamp(self.now, UTC)

    def run(self, seconds: int, *, chunk_s: int = 300) -> Iterator[SimChunk]:
        """Advance ``seconds`` simulated seconds, yielding one :class:`SimChunk` per ``chunk_s``."""
        if seconds < 0 or chunk_s < 1:
            raise SimulationError(f"seconds must be >= 0 and chunk_s >= 1, got {seconds} and {chunk_s}")
        return self._run(seconds, chunk_s)

    def _run(self, seconds: int, chunk_s: int) -> Iterator[SimChunk]:
        done = 0
        while done < seconds:
            steps = min(chunk_s, seconds - done)
            yield self._chunk(steps)
            done += steps

    def _draw_life(self, mask: np.ndarray, previous: np.ndarray) -> np.ndarray:
        draws = self._rng.weibull(self.life_shape)
        return np.where(mask, np.maximum(self._life_scale * draws, 0.05 * self.mean_life), previous)

    def _chunk(self, steps: int) -> SimChunk:
        n, c, m = self.n, len(COMPONENT_NAMES), len(METRIC_NAMES)
        start = self.time
        buffers = {
            "ts": np.empty((steps, n), np.int64),
            "seq": np.empty((steps, n), np.int64),
            "status": np.empty((steps, n), np.int8),
            "online": np.empty((steps, n), bool),
            "x": np.empty((steps, n)),
            "y": np.empty((steps, n)),
            "theta": np.empty((steps, n)),
            "linear": np.empty((steps, n)),
            "angular": np.empty((steps, n)),
            "soc": np.empty((steps, n)),
            "voltage": np.empty((steps, n)),
            "current": np.empty((steps, n)),
            "battery_temp": np.empty((steps, n)),
            "charging": np.empty((steps, n), bool),
            "component_current": np.empty((steps, n, c)),
            "component_temp": np.empty((steps, n, c)),
            "component_rpm": np.empty((steps, n, c)),
            "component_usage": np.empty((steps, n, c)),
            "metrics": np.empty((steps, n, m)),
            "system": np.empty((steps, n, 4)),
        }
        out = _Outputs()
        wear_rows: list[tuple[np.ndarray, np.ndarray]] = []
        for step in range(steps):
            self._step(buffers, step, out)
            if self.now % WEAR_SAMPLE_EVERY_S == 0:
                wear_rows.append((np.full(n, self.now), self._wear_with_battery()))
            self.now += 1
        online = buffers.pop("online").reshape(-1)
        robot = np.tile(np.arange(n, dtype=np.int32), steps)[online]
        columns = {
            name: _rounded(name, values.reshape(steps * n, *values.shape[2:])[online])
            for name, values in buffers.items()
        }
        telemetry = TelemetryColumns(
            tenant_id=self.config.tenant_id, robot_ids=self.robot_ids, has_component=self.has, robot=robot, **columns
        )
        wear = WearSamples.from_snapshots(self.config.tenant_id, self.robot_ids, self.has, wear_rows)
        return SimChunk(start, self.time, telemetry, out.events, out.task_events, out.maintenance, out.failures, wear)

    def _wear_with_battery(self) -> np.ndarray:
        battery_wear = (1 - self._health()) / (1 - BATTERY_MIN_HEALTH)
        return np.column_stack([self.wear, battery_wear])

    def _health(self) -> np.ndarray:
        return 1 - self.fade * self.cycles

    def _step(self, buffers: dict[str, np.ndarray], step: int, out: _Outputs) -> None:
        rng, t, n = self._rng, self.now, self.n
        draws = rng.random((n, 8))
        noise = rng.standard_normal((n, len(COMPONENT_NAMES) + 6))
        warn_draws = rng.random((n, len(COMPONENT_NAMES)))
        c = len(COMPONENT_NAMES)

        # Scheduling: docked robots with a charged battery pick up tasks now and then.
        for i in _indices((self.status == DOCKED) & (self.soc > 0.8) & (draws[:, 0] < TASK_START_PER_S)):
            self.task_number[i] += 1
            self.task_area[i] = 300 + 2200 * draws[i, 1]
            self.cleaned[i] = 0.0
            self.status[i], self.heading_to_task[i] = MOVING, True
            self.until[i] = t + 60 + int(180 * draws[i, 2])
            out.task(self, i, TaskEventType.ASSIGNED, area_m2=round(float(self.task_area[i]), 1))
        arrived = (self.status == MOVING) & (t >= self.until)
        for i in _indices(arrived & self.heading_to_task):
            self.status[i], self.task_started[i] = CLEANING, t
            out.task(self, i, TaskEventType.STARTED, area_m2=round(float(self.task_area[i]), 1))
        self.status[arrived & ~self.heading_to_task] = CHARGING
        self.status[(self.status == DOCKED) & (self.soc < 0.9)] = CHARGING
        blocked_over = (self.status == IDLE) & (t >= self.until)
        self.status[blocked_over] = CLEANING

        # Parts: tools run while cleaning, the drive train while the robot moves.
        cleaning = self.status == CLEANING
        moving = cleaning | (self.status == MOVING)
        running = self.has & np.where(self.runs_moving, moving[:, None], cleaning[:, None])
        self.usage_h += running / 3600.0
        self.wear += running * (self.config.wear_rate / 3600.0) / self.life_h
        filter_wear = np.where(self.has[:, self.filter], self.wear[:, self.filter], 0.0)
        current = self.nominal_current * (1 + self.current_gain * self.wear**2)
        current[:, self.vacuum] *= 1 + 0.6 * filter_wear**2
        current = np.maximum(current * (1 + 0.03 * noise[:, :c]), 0.0) * (running & self.is_motor)
        rpm = self.nominal_rpm * (1 - 0.08 * self.wear) * (1 + 0.01 * noise[:, :c]) * running
        self.temp += (AMBIENT_C + 2.5 * current - self.temp) / 300.0

        # Battery: discharge by what the robot draws, charge with a taper near full.
        charging = self.status == CHARGING
        draw = np.where(moving, self.base_current, 0.3 * self.base_current) + current.sum(axis=1)
        health = self._health()
        capacity = self.capacity_ah * health
        charge = self.charge_current * _bounded((1 - self.soc) / 0.15, 0.1, 1.0)
        battery_current = np.where(charging, charge, -draw)
        self.soc = _bounded(self.soc + battery_current / 3600.0 / capacity, 0.0, 1.0)
        self.cycles += np.where(charging, 0.0, draw * self.config.wear_rate / 3600.0 / self.capacity_ah)
        resistance = 0.03 * (1 + 3 * (1 - health))
        voltage = self.cells * (3.3 + 0.8 * self.soc) + battery_current * resistance
        heat = 0.002 * battery_current**2 * resistance / 0.03
        self.battery_temp += (AMBIENT_C + heat - self.battery_temp) / 900.0

        # Motion: boustrophedon-ish sweeps inside the site, bouncing off its walls.
        self.speed = np.where(cleaning, self.clean_speed, np.where(self.status == MOVING, 1.0, 0.0))
        self.angular = np.where(moving, 0.02 * noise[:, c], 0.0)
        self.theta += self.angular
        self.x += self.speed * np.cos(self.theta)
        self.y += self.speed * np.sin(self.theta)
        hit_x = (self.x < 0) | (self.x > self.width)
        hit_y = (self.y < 0) | (self.y > self.height)
        self.theta = np.where(hit_x, math.pi - self.theta, self.theta)
        self.theta = np.where(hit_y, -self.theta, self.theta)
        self.theta = (self.theta + math.pi) % (2 * math.pi) - math.pi
        self.x = _bounded(self.x, 0, self.width)
        self.y = _bounded(self.y, 0, self.height)
        efficiency = 1 - 0.3 * self.wear[:, self.main_brush] ** 2
        self.cleaned += np.where(cleaning, self.speed * self.clean_width * efficiency, 0.0)

        # Task outcomes.
        done = cleaning & (self.cleaned >= self.task_area)
        for i in _indices(done):
            out.task(self, i, TaskEventType.COMPLETED, **self._task_figures(i, efficiency[i]))
            self._head_home(i, draws[i, 3])
        low = cleaning & ~done & (self.soc < 0.15)
        for i in _indices(low):
            out.event(self, i, EventLevel.WARNING, "BATTERY_LOW", f"battery at {self.soc[i]:.0%}, returning to dock")
            out.task(self, i, TaskEventType.FAILED, reason="battery_low", **self._task_figures(i, efficiency[i]))
            self._head_home(i, draws[i, 3])
        for i in _indices(cleaning & ~done & ~low & ((t - self.task_started) % 300 == 299)):
            out.task(self, i, TaskEventType.PROGRESS, **self._task_figures(i, efficiency[i]))
        self.status[(self.status == CHARGING) & (self.soc >= 0.98)] = DOCKED
        for i in _indices(cleaning & ~done & ~low & (draws[:, 4] < PATH_BLOCKED_PER_S)):
            out.event(self, i, EventLevel.WARNING, "PATH_BLOCKED", "obstacle on the planned path, waiting")
            self.status[i], self.until[i] = IDLE, t + 30 + int(150 * draws[i, 5])

        # Wear shows first as warnings, more and more often, then as a failure that stops the robot.
        # Scaled by wear_rate so a part warns as often over its (shortened) life as a real one does.
        hazard = (WARNINGS_PER_H_AT_FAILURE * self.config.wear_rate / 3600.0) * np.exp(
            WARNING_STEEPNESS * (self.wear - 1)
        )
        for i, j in zip(*np.nonzero(running & (warn_draws < hazard)), strict=True):
            out.event(
                self,
                i,
                EventLevel.WARNING,
                self.warning_codes[i, j],
                f"{COMPONENT_NAMES[j]} outside its normal range",
                component=COMPONENT_NAMES[j],
            )
        worn_out = (self.has & (self.wear >= 1.0)).any(axis=1) & (self.status != ERROR)
        for i in _indices(worn_out):
            self._fail(i, int(np.argmax(np.where(self.has[i], self.wear[i], -1))), draws[i, 6], efficiency[i], out)
        for i in _indices((self._health() < BATTERY_MIN_HEALTH) & (self.status != ERROR)):
            self._fail(i, BATTERY, draws[i, 6], efficiency[i], out)
        for i in _indices((self.status == ERROR) & (t >= self.until)):
            self._repair(i, out)
        for i in _indices((t >= self.next_service) & (self.status == DOCKED)):
            self._service(i, out)

        # Connectivity: now and then a robot drops off the network for a few minutes.
        online = t >= self.offline_until
        drop = online & (draws[:, 7] < self.config.offline_per_day / 86400.0)
        self.offline_until[drop] = t + 120 + (1080 * draws[drop, 1]).astype(np.int64)
        online &= ~drop
        self.telemetry_seq += online
        self.disk = np.minimum(self.disk + 1e-5, 95.0)

        row = buffers
        row["ts"][step], row["seq"][step], row["online"][step] = t, self.telemetry_seq, online
        row["status"][step] = self.status
        row["x"][step], row["y"][step], row["theta"][step] = self.x, self.y, self.theta
        row["linear"][step], row["angular"][step] = self.speed, self.angular
        row["soc"][step], row["voltage"][step], row["current"][step] = self.soc, voltage, battery_current
        row["battery_temp"][step], row["charging"][step] = self.battery_temp, charging
        row["component_current"][step], row["component_rpm"][step] = current, rpm
        row["component_temp"][step], row["component_usage"][step] = self.temp, self.usage_h
        wheel_wear = self.wear[:, self.wheels]
        metrics, system = row["metrics"][step], row["system"][step]
        metrics[:, 0] = np.where(moving, 0.05 + 0.6 * wheel_wear**2, 0.01) * (1 + 0.05 * noise[:, c + 1])
        metrics[:, 1] = np.where(cleaning, 180 + 900 * filter_wear**1.5, 0.0) * (1 + 0.02 * noise[:, c + 2])
        metrics[:, 2], metrics[:, 3] = self.cycles, health
        system[:, 0] = _bounded(15 + 35 * moving + 4 * noise[:, c + 3], 1, 100)
        system[:, 1] = _bounded(42 + 6 * moving + 2 * noise[:, c + 4], 1, 100)
        system[:, 2] = self.disk
        system[:, 3] = np.maximum(2_000 + 1_500 * moving + 300 * noise[:, c + 5], 0)

    def _task_figures(self, i: int, efficiency: float) -> dict[str, float]:
        return {
            "area_m2": round(float(self.task_area[i]), 1),
            "cleaned_m2": round(float(min(self.cleaned[i], self.task_area[i])), 1),
            "progress": round(float(min(self.cleaned[i] / self.task_area[i], 1.0)), 4),
            "efficiency": round(float(efficiency), 4),
        }

    def _head_home(self, i: int, draw: float) -> None:
        self.status[i], self.heading_to_task[i] = MOVING, False
        self.until[i] = self.now + 60 + int(180 * draw)

    def _fail(self, i: int, part: int, draw: float, efficiency: float, out: _Outputs) -> None:
        name = "battery" if part == BATTERY else COMPONENT_NAMES[part]
        code = "BATTERY_CAPACITY_LOW" if part == BATTERY else self.failure_codes[i, part]
        if self.status[i] in (CLEANING, IDLE) or (self.status[i] == MOVING and self.heading_to_task[i]):
            out.task(self, i, TaskEventType.FAILED, reason="component_failure", **self._task_figures(i, efficiency))
        out.event(self, i, EventLevel.ERROR, code, f"{name} failed; robot stopped", component=name)
        usage = float(self.cycles[i]) if part == BATTERY else float(self.usage_h[i, part])
        out.failures.append(FailureRecord(self.config.tenant_id, self.robot_ids[i], name, self.time, round(usage, 3)))
        self.status[i], self.failed_part[i] = ERROR, part
        self.until[i] = self.now + 7200 + int(36000 * draw)

    def _repair(self, i: int, out: _Outputs) -> None:
        part = int(self.failed_part[i])
        if part == BATTERY:
            out.maintain(self, i, "battery", "replacement", "failure", float(self.cycles[i]))
            self.cycles[i], self.soc[i] = 0.0, 1.0
        else:
            self._replace(i, part, "failure", out)
        out.event(self, i, EventLevel.INFO, "MAINTENANCE_COMPLETED", "repaired after a failure, back in service")
        self.status[i], self.failed_part[i] = DOCKED, NO_FAILED_PART

    def _service(self, i: int, out: _Outputs) -> None:
        for j in _indices(self.has[i] & (self.wear[i] > 0.65)):
            self._replace(i, int(j), "preventive", out)
        if self.has[i, self.filter] and self.wear[i, self.filter] > 0.25:
            out.maintain(self, i, "filter", "cleaning", "preventive", float(self.usage_h[i, self.filter]))
            self.wear[i, self.filter] = 0.0
        self.next_service[i] += int(self.config.service_interval_h * 3600)

    def _replace(self, i: int, part: int, reason: str, out: _Outputs) -> None:
        out.maintain(self, i, COMPONENT_NAMES[part], "replacement", reason, float(self.usage_h[i, part]))
        mask = np.zeros_like(self.has)
        mask[i, part] = True
        self.life_h = self._draw_life(mask, self.life_h)
        self.wear[i, part], self.usage_h[i, part], self.temp[i, part] = 0.0, 0.0, AMBIENT_C


@dataclass
class _Outputs:
    events: list[RobotEvent] = field(default_factory=list)
    task_events: list[TaskEvent] = field(default_factory=list)
    maintenance: list[MaintenanceRecord] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)

    def event(
        self, sim: FleetSimulator, i: int, level: EventLevel, code: str, message: str, component: str | None = None
    ) -> None:
        sim.event_seq[i] += 1
        state = {
            "status": STATUS_NAMES[sim.status[i]],
            "soc": round(float(sim.soc[i]), 4),
            "x": round(float(sim.x[i]), 2),
            "y": round(float(sim.y[i]), 2),
        }
        self.events.append(
            RobotEvent(
                tenant_id=sim.config.tenant_id,
                robot_id=sim.robot_ids[i],
                ts=sim.time,
                seq=int(sim.event_seq[i]),
                level=level,
                code=code,
                message=message,
                component=component,
                state=state,
            )
        )

    def task(self, sim: FleetSimulator, i: int, kind: TaskEventType, **figures: object) -> None:
        sim.task_seq[i] += 1
        self.task_events.append(
            TaskEvent(
                tenant_id=sim.config.tenant_id,
                robot_id=sim.robot_ids[i],
                ts=sim.time,
                seq=int(sim.task_seq[i]),
                task_id=f"{sim.robot_ids[i]}-t{sim.task_number[i]:06d}",
                type=kind,
                site_id=sim.sites[sim.site_index[i]].site_id,
                **figures,
            )
        )

    def maintain(self, sim: FleetSimulator, i: int, component: str, kind: str, reason: str, usage: float) -> None:
        self.maintenance.append(
            MaintenanceRecord(
                tenant_id=sim.config.tenant_id,
                robot_id=sim.robot_ids[i],
                component=component,
                kind=kind,
                reason=reason,
                performed_at=sim.time,
                usage_h=round(max(usage, 0.0), 3),
            )
        )


_DECIMALS: dict[str, int | tuple[int, ...]] = {
    "x": 3,
    "y": 3,
    "theta": 4,
    "linear": 3,
    "angular": 4,
    "soc": 4,
    "voltage": 3,
    "current": 3,
    "battery_temp": 2,
    "component_current": 3,
    "component_temp": 2,
    "component_rpm": 1,
    "component_usage": 4,
    "metrics": (4, 1, 3, 4),
    "system": (1, 1, 2, 0),
}


def _rounded(name: str, values: np.ndarray) -> np.ndarray:
    """Values at the precision robots report, so every export of a chunk carries the same numbers."""
    decimals = _DECIMALS.get(name)
    if decimals is None:
        return values
    if isinstance(decimals, tuple):
        return np.column_stack([np.round(values[:, k], d) for k, d in enumerate(decimals)])
    return np.round(values, decimals)


def _indices(mask: np.ndarray) -> np.ndarray:
    """The indices where a 1-d ``mask`` is true: ``np.flatnonzero`` without its Python layers."""
    return mask.nonzero()[0]


def _bounded(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``np.clip`` as two ufunc calls: its Python layers cost more than the clipping on a fleet of tens of robots,
    and a simulated second clips six times."""
    return np.minimum(np.maximum(values, low), high)


def history_start(days: float, *, now: datetime | None = None) -> datetime:
    """The whole minute ``days`` before ``now``, where a history of that length starts."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.replace(second=0, microsecond=0)
