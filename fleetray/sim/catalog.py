"""Robot models the simulator knows: their components, batteries and how each part wears.

The figures are plausible for commercial cleaning robots (24-36 V packs of 60-150 Ah, brush motors
of a few amperes, parts lasting hundreds of hours of use), not any vendor's datasheet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentSpec:
    """A wearing part.

    Attributes:
        name: the key under ``Telemetry.components``.
        nominal_current_a: current draw of a new part while running (None: not a motor, e.g. a filter).
        current_limit_a: the model's limit; alert rules compare against it.
        nominal_rpm: speed of a new part while running (None: no rotation).
        mean_life_h: mean hours of use until the part fails.
        life_shape: Weibull shape of the life distribution (>1: wear-out failures).
        wear_current_gain: relative current increase when worn out (current grows with wear squared).
        runs_when: "cleaning" (tools) or "moving" (drive train).
        warning_code, failure_code: the RobotEvent codes the part raises.
    """

    name: str
    nominal_current_a: float | None
    current_limit_a: float | None
    nominal_rpm: float | None
    mean_life_h: float
    life_shape: float
    wear_current_gain: float
    runs_when: str
    warning_code: str
    failure_code: str


@dataclass(frozen=True)
class RobotModel:
    """A robot model: identity, capabilities, battery and parts."""

    manufacturer: str
    model: str
    capabilities: tuple[str, ...]
    components: tuple[ComponentSpec, ...]
    battery_capacity_ah: float
    battery_cells: int
    base_current_a: float
    charge_current_a: float
    capacity_fade_per_cycle: float
    cleaning_speed_mps: float
    cleaning_width_m: float

    @property
    def key(self) -> str:
        """``manufacturer/model``."""
        return f"{self.manufacturer}/{self.model}"


def _brush(name: str, current: float, rpm: float, life: float) -> ComponentSpec:
    code = name.upper()
    return ComponentSpec(
        name, current, current * 1.8, rpm, life, 3.0, 0.9, "cleaning", f"{code}_OVERCURRENT", f"{code}_STALLED"
    )


def _vacuum(current: float, life: float) -> ComponentSpec:
    return ComponentSpec(
        "vacuum",
        current,
        current * 1.7,
        18_000,
        life,
        2.5,
        0.5,
        "cleaning",
        "VACUUM_OVERCURRENT",
        "VACUUM_MOTOR_FAILURE",
    )


def _filter(life: float) -> ComponentSpec:
    return ComponentSpec("filter", None, None, None, life, 4.0, 0.0, "cleaning", "FILTER_CLOGGING", "FILTER_CLOGGED")


def _wheels(current: float, life: float) -> ComponentSpec:
    return ComponentSpec(
        "wheels", current, current * 1.6, 120, life, 2.2, 0.7, "moving", "WHEEL_VIBRATION_HIGH", "WHEEL_BEARING_FAILURE"
    )


def _pump(life: float) -> ComponentSpec:
    return ComponentSpec("pump", 1.2, 2.2, 2_400, life, 2.0, 0.6, "cleaning", "PUMP_FLOW_LOW", "PUMP_FAILURE")


CATALOG: tuple[RobotModel, ...] = (
    RobotModel(
        manufacturer="Avidbots",
        model="Neo 2",
        capabilities=("scrub", "vacuum"),
        components=(
            _brush("main_brush", 9.0, 230, 420),
            _vacuum(14.0, 1500),
            _pump(900),
            _filter(70),
            _wheels(6.0, 2600),
        ),
        battery_capacity_ah=150,
        battery_cells=8,
        base_current_a=3.0,
        charge_current_a=40,
        capacity_fade_per_cycle=0.0007,
        cleaning_speed_mps=0.9,
        cleaning_width_m=0.8,
    ),
    RobotModel(
        manufacturer="Gausium",
        model="Phantas",
        capabilities=("vacuum", "sweep", "mop"),
        components=(
            _brush("main_brush", 3.0, 400, 300),
            _brush("side_brush", 0.8, 120, 220),
            _vacuum(5.0, 1200),
            _filter(50),
            _wheels(2.5, 2000),
        ),
        battery_capacity_ah=40,
        battery_cells=7,
        base_current_a=1.2,
        charge_current_a=12,
        capacity_fade_per_cycle=0.0009,
        cleaning_speed_mps=0.6,
        cleaning_width_m=0.45,
    ),
    RobotModel(
        manufacturer="Gausium",
        model="Scrubber 50 Pro",
        capabilities=("scrub", "sweep"),
        components=(
            _brush("main_brush", 7.5, 200, 380),
            _brush("side_brush", 1.0, 110, 250),
            _vacuum(11.0, 1400),
            _pump(800),
            _wheels(5.0, 2400),
        ),
        battery_capacity_ah=100,
        battery_cells=8,
        base_current_a=2.5,
        charge_current_a=30,
        capacity_fade_per_cycle=0.0008,
        cleaning_speed_mps=0.8,
        cleaning_width_m=0.55,
    ),
    RobotModel(
        manufacturer="Tennant",
        model="T380AMR",
        capabilities=("scrub",),
        components=(_brush("main_brush", 10.0, 220, 450), _vacuum(15.0, 1600), _pump(950), _wheels(7.0, 2800)),
        battery_capacity_ah=120,
        battery_cells=12,
        base_current_a=3.5,
        charge_current_a=35,
        capacity_fade_per_cycle=0.0006,
        cleaning_speed_mps=1.0,
        cleaning_width_m=0.7,
    ),
)

COMPONENT_NAMES: tuple[str, ...] = tuple(dict.fromkeys(spec.name for model in CATALOG for spec in model.components))
BATTERY_MIN_HEALTH = 0.7
"""A pack below this share of its rated capacity fails and is replaced."""
