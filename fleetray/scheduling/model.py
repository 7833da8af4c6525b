"""The schedule request and answer: sites' locations, robots, cleaning tasks, objective weights.

Times are whole seconds from the start of the planning horizon (``horizon_start`` says when that
is); distances are metres; battery quantities are fractions of a full charge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = str
Seconds = int
MAX_SECONDS = 366 * 86400


class Strict(BaseModel):
    """Request parts refuse unknown fields: a misspelt constraint must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Window(Strict):
    """``[start, end]`` in seconds from the horizon's start."""

    start: Seconds = Field(ge=0, le=MAX_SECONDS)
    end: Seconds = Field(ge=0, le=MAX_SECONDS)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class Location(Strict):
    """A place: a task's spot, a dock or a charger, in metres on the site's plane."""

    id: Id = Field(min_length=1, max_length=128)
    x: float = Field(ge=-1e7, le=1e7)
    y: float = Field(ge=-1e7, le=1e7)
    charger: bool = Field(default=False, description="Robots can charge here: plans add charging stops as needed.")
    site: Id | None = Field(
        default=None,
        max_length=128,
        description="The site (building) the place is in. Robots never travel between sites: a request spanning "
        "several is planned site by site, in parallel.",
    )


class TravelMatrix(Strict):
    """Measured distances (metres) between locations, used instead of straight lines; ``ids`` orders the rows."""

    ids: list[Id] = Field(min_length=1, max_length=20_000)
    distances_m: list[list[float]]

    @model_validator(mode="after")
    def _square(self) -> TravelMatrix:
        n = len(self.ids)
        if len(self.distances_m) != n or any(len(row) != n for row in self.distances_m):
            raise ValueError(f"distances_m must be {n} x {n}, one row and column per id")
        if any(value < 0 for row in self.distances_m for value in row):
            raise ValueError("distances_m must not be negative")
        return self


class ScheduleRobot(Strict):
    """A robot that can take tasks."""

    id: Id = Field(min_length=1, max_length=128)
    start_location: Id
    end_location: Id | None = Field(default=None, description="Default: back to the start.")
    capabilities: list[str] = Field(default_factory=list, max_length=50)
    speed_m_s: float = Field(default=0.5, gt=0, le=20)
    cleaning_rate_m2_s: float = Field(default=0.3, gt=0, le=100, description="For tasks given by area.")
    capacity: int = Field(default=1_000_000, ge=0, description="Tank or bin capacity, in the tasks' demand units.")
    battery_soc: float = Field(default=1.0, ge=0, le=1, description="Charge now, as a fraction of full.")
    consumption_per_min_work: float = Field(default=0.0, ge=0, le=1)
    consumption_per_m: float = Field(default=0.0, ge=0, le=1)
    reserve: float = Field(default=0.1, ge=0, le=1, description="Never planned below this charge.")
    charge_rate_per_min: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Charge gained per minute at a charger: charging stops charge to full.",
    )
    availability: Window | None = Field(default=None, description="Default: the whole horizon.")
    maintenance: list[Window] = Field(default_factory=list, max_length=100)
    failure_risk: float = Field(default=0.0, ge=0, le=1, description="From scoring: weighs the risk objective.")


class ScheduleTask(Strict):
    """A cleaning task."""

    id: Id = Field(min_length=1, max_length=128)
    location: Id
    duration_s: Seconds | None = Field(default=None, ge=0, le=MAX_SECONDS)
    area_m2: float | None = Field(default=None, gt=0, le=1e7, description="When no duration: area / robot's rate.")
    capability: str | None = None
    window: Window | None = None
    priority: int = Field(default=1, ge=0, le=100)
    drop_penalty: int | None = Field(default=None, ge=0, le=10**9, description="Default: from the priority.")
    due_s: Seconds | None = Field(default=None, ge=0, le=MAX_SECONDS, description="Soft: finishing later is lateness.")
    demand: int = Field(default=0, ge=0)
    after: list[Id] = Field(default_factory=list, max_length=100, description="Tasks that must finish first.")
    same_robot_as: list[Id] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _sized(self) -> ScheduleTask:
        if self.duration_s is None and self.area_m2 is None:
            raise ValueError("give duration_s or area_m2")
        return self


class Objective(Strict):
    """Weights of what the optimiser minimises (each term in its natural unit)."""

    dropped: float = Field(default=1.0, ge=0, description="Times each dropped task's penalty.")
    lateness_s: float = Field(default=0.0, ge=0)
    distance_m: float = Field(default=1.0, ge=0)
    travel_s: float = Field(default=0.0, ge=0)
    robots_used: float = Field(default=0.0, ge=0, description="Per robot with at least one task.")
    makespan_s: float = Field(default=0.0, ge=0, description="On the latest end of any route.")
    balance_s: float = Field(default=0.0, ge=0, description="On each route's span, start to end (idle time included).")
    risk: float = Field(default=0.0, ge=0, description="Per task-second on a robot, times its failure risk.")


class SolveOptions(Strict):
    time_limit_s: float = Field(default=10.0, gt=0, le=3600, description="The optimiser improves until then.")
    solution_limit: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Stop after this many improving solutions: the same request then gets the same plan on every "
        "run (a time limit alone stops wherever the clock finds the search). The time limit still applies.",
    )
    lower_bound_s: float = Field(
        default=0.0,
        ge=0,
        le=600,
        description="CP-SAT's budget, in its deterministic seconds, to prove a lower bound on the objective (requests "
        "up to 200 tasks; 0: none). A deterministic second is about a second of a fast core; the wall-clock time is "
        "capped at three times the budget. With it, the answer says how far from optimal the plan can be at most.",
    )
    seed: int = Field(default=0, ge=0, description="CP-SAT's random seed, for the lower bound.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="CP-SAT's search workers, for the lower bound: the same seed and workers give the same bound. "
        "The routing search itself runs on one thread.",
    )


class ScheduleRequest(Strict):
    """What to plan."""

    horizon_start: datetime | None = None
    horizon_s: Seconds = Field(default=86400, gt=0, le=MAX_SECONDS)
    locations: list[Location] = Field(min_length=1, max_length=120_000)
    matrix: TravelMatrix | None = None
    robots: list[ScheduleRobot] = Field(min_length=1, max_length=10_000)
    tasks: list[ScheduleTask] = Field(default_factory=list, max_length=100_000)
    objective: Objective = Field(default_factory=Objective)
    options: SolveOptions = Field(default_factory=SolveOptions)


class Stop(BaseModel):
    """One stop of a robot's itinerary."""

    kind: Literal["start", "task", "charge", "end"]
    location: Id
    task_id: Id | None = None
    arrival_s: Seconds
    start_s: Seconds
    end_s: Seconds
    battery_soc: float | None = None


class Itinerary(BaseModel):
    robot_id: Id
    stops: list[Stop]
    distance_m: float
    travel_s: Seconds
    work_s: Seconds


class DroppedTask(BaseModel):
    task_id: Id
    reason: str


class Kpis(BaseModel):
    tasks_planned: int
    tasks_dropped: int
    robots_used: int
    charging_stops: int = 0
    distance_m: float
    travel_s: Seconds
    makespan_s: Seconds


class ScheduleResult(BaseModel):
    """A plan: each robot's itinerary, what was dropped and why, and how good it is."""

    status: Literal["optimal", "feasible"]
    solver: str
    objective: float
    lower_bound: float | None = None
    solve_time_s: float
    itineraries: list[Itinerary]
    dropped: list[DroppedTask]
    kpis: Kpis


class FieldError(BaseModel):
    """One thing wrong with a request, named by its field."""

    field: str
    message: str


class Validation(BaseModel):
    """What :func:`validate_request` found: hard errors, and tasks that no robot can serve (with why)."""

    valid: bool
    errors: list[FieldError]
    unservable: list[DroppedTask]
