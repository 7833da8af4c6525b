from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleetray.errors import SimulationError
from fleetray.schemas import RobotEvent, Telemetry, validate_message
from fleetray.sim import COMPONENT_NAMES, FleetSimulator, SimChunk, SimConfig, history_start
from fleetray.sim.catalog import BATTERY_MIN_HEALTH

START = datetime(2026, 1, 1, tzinfo=UTC)


def run(config: SimConfig, seconds: int, chunk_s: int = 3600) -> list[SimChunk]:
    return list(FleetSimulator(config).run(seconds, chunk_s=chunk_s))


def digest(chunks: list[SimChunk]) -> str:
    h = hashlib.sha256()
    for row in (row for chunk in chunks for row in chunk.telemetry.to_rows()):
        h.update(repr(row).encode())
    for kind in ("events", "task_events", "maintenance"):
        for message in (m for chunk in chunks for m in getattr(chunk, kind)):
            h.update(message.model_dump_json().encode())
    for chunk in chunks:
        h.update(chunk.wear.wear.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def aged_fleet() -> list[SimChunk]:
    """A fleet aged fast enough that parts fail and get replaced within simulated hours."""
    return run(SimConfig(robots=40, seed=11, start=START, wear_rate=60), 12 * 3600)


def test_same_seed_same_bytes() -> None:
    config = SimConfig(robots=12, seed=5, start=START, wear_rate=30)
    assert digest(run(config, 1800)) == digest(run(config, 1800))
    assert digest(run(config, 1800)) != digest(run(SimConfig(robots=12, seed=6, start=START, wear_rate=30), 1800))


def test_chunking_does_not_change_the_output() -> None:
    config = SimConfig(robots=5, seed=2, start=START)
    assert digest(run(config, 1200, chunk_s=1200)) == digest(run(config, 1200, chunk_s=60))


def test_fleet_mixes_models_sites_and_emits_valid_messages() -> None:
    sim = FleetSimulator(SimConfig(robots=30, seed=1, start=START))
    assert len({(r.manufacturer, r.model) for r in sim.robots}) >= 3
    assert len({r.site_id for r in sim.robots}) == 4
    chunk = next(sim.run(120, chunk_s=120))
    messages = chunk.telemetry.to_messages()
    assert len(messages) == len(chunk.telemetry) >= 30 * 119
    for message in messages[:200]:
        assert validate_message(Telemetry, message.model_dump(mode="json")) == message
    per_robot = defaultdict(list)
    for message in messages:
        per_robot[message.robot_id].append(message.seq)
    assert all(seqs == sorted(set(seqs)) for seqs in per_robot.values())
    assert {m.ts for m in messages} <= {START + timedelta(seconds=s) for s in range(120)}


def test_robots_work_charge_and_move(aged_fleet: list[SimChunk]) -> None:
    statuses = np.concatenate([c.telemetry.status for c in aged_fleet])
    assert set(np.unique(statuses)) >= {1, 2, 3, 4}  # cleaning, charging, docked, moving
    kinds = {e.type.value for c in aged_fleet for e in c.task_events}
    assert kinds >= {"assigned", "started", "progress", "completed"}


def component_series(chunks: list[SimChunk], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    j = COMPONENT_NAMES.index(name)
    robot = np.concatenate([c.telemetry.robot for c in chunks])
    current = np.concatenate([c.telemetry.component_current[:, j] for c in chunks])
    usage = np.concatenate([c.telemetry.component_usage[:, j] for c in chunks])
    has = chunks[0].telemetry.has_component[robot, j]
    return robot[has], current[has], usage[has], np.concatenate([c.telemetry.ts for c in chunks])[has]


def wear_lookup(chunks: list[SimChunk]) -> dict[tuple[str, str, int], float]:
    names = [*COMPONENT_NAMES, "battery"]
    table: dict[tuple[str, str, int], float] = {}
    for chunk in chunks:
        w = chunk.wear
        for r, ts, c, value in zip(w.robot.tolist(), w.ts.tolist(), w.component.tolist(), w.wear.tolist(), strict=True):
            table[(w.robot_ids[r], names[c], ts)] = value
    return table


def test_brush_current_rises_with_wear(aged_fleet: list[SimChunk]) -> None:
    wear = wear_lookup(aged_fleet)
    robot_ids = aged_fleet[0].telemetry.robot_ids
    robot, current, _, ts = component_series(aged_fleet, "main_brush")
    running = current > 0
    by_robot: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r, amps, t in zip(robot[running].tolist(), current[running].tolist(), ts[running].tolist(), strict=True):
        w = wear.get((robot_ids[r], "main_brush", t - t % 60))
        if w is not None:
            by_robot[r].append((w, amps))
    slopes = []
    for samples in by_robot.values():
        w, amps = np.array(samples).T
        if np.ptp(w) > 0.2:
            slopes.append(np.polyfit(w, amps / amps.mean(), 1)[0])
    assert len(slopes) >= 10
    assert np.median(slopes) > 0.3


def test_failures_are_preceded_by_warnings_that_grow_more_frequent(aged_fleet: list[SimChunk]) -> None:
    failures = [f for c in aged_fleet for f in c.failures if f.component != "battery"]
    assert len(failures) >= 10
    warnings = [e for c in aged_fleet for e in c.events if e.level.value == "WARNING" and e.component]
    warned_before = {(e.robot_id, e.component, e.ts) for e in warnings}
    preceded = [
        f for f in failures if any(r == f.robot_id and c == f.component and ts < f.ts for r, c, ts in warned_before)
    ]
    assert len(preceded) / len(failures) >= 0.9
    wear = wear_lookup(aged_fleet)
    wear_at_warning = [
        wear[(e.robot_id, e.component, int(e.ts.timestamp()) // 60 * 60)]
        for e in warnings
        if (e.robot_id, e.component, int(e.ts.timestamp()) // 60 * 60) in wear
    ]
    assert np.mean(np.array(wear_at_warning) > 0.8) > 0.6


def test_failures_stop_the_robot_until_maintenance_resets_the_part(aged_fleet: list[SimChunk]) -> None:
    events = sorted((e for c in aged_fleet for e in c.events), key=lambda e: (e.robot_id, e.seq))
    maintenance = [m for c in aged_fleet for m in c.maintenance]
    failure = next(
        e
        for e in events
        if e.level.value == "ERROR"
        and e.component != "battery"
        and any(m.robot_id == e.robot_id and m.component == e.component and m.reason == "failure" for m in maintenance)
    )
    repair = next(
        m
        for m in maintenance
        if m.robot_id == failure.robot_id
        and m.component == failure.component
        and m.reason == "failure"
        and m.performed_at > failure.ts
    )
    robot = aged_fleet[0].telemetry.robot_ids.index(failure.robot_id)
    part = COMPONENT_NAMES.index(failure.component)
    mine = [c.telemetry.robot == robot for c in aged_fleet]
    ts = np.concatenate([c.telemetry.ts[m] for c, m in zip(aged_fleet, mine, strict=True)])
    status = np.concatenate([c.telemetry.status[m] for c, m in zip(aged_fleet, mine, strict=True)])
    speed = np.concatenate([c.telemetry.linear[m] for c, m in zip(aged_fleet, mine, strict=True)])
    usage = np.concatenate([c.telemetry.component_usage[m, part] for c, m in zip(aged_fleet, mine, strict=True)])
    failed_at, repaired_at = failure.ts.timestamp(), repair.performed_at.timestamp()
    during = (ts > failed_at) & (ts < repaired_at)
    after = np.flatnonzero(ts > repaired_at)[:5]
    error = 5
    assert during.any() and (status[during] == error).all() and (speed[during] == 0).all()
    assert len(after) and (status[after] != error).all()
    assert usage[after[0]] < 0.01
    assert repair.usage_h > 1


def test_batteries_fade_with_cycles(aged_fleet: list[SimChunk]) -> None:
    cycles = np.concatenate([c.telemetry.metrics[:, 2] for c in aged_fleet])
    robot = np.concatenate([c.telemetry.robot for c in aged_fleet])
    voltage = np.concatenate([c.telemetry.voltage for c in aged_fleet])
    soc = np.concatenate([c.telemetry.soc for c in aged_fleet])
    grew = [np.diff(cycles[robot == r]).min() >= -1e-9 or np.diff(cycles[robot == r]).max() > 0 for r in range(40)]
    assert all(grew)
    # Older packs sag more under load: at the same charge, more cycles means lower voltage per cell.
    cells = FleetSimulator(SimConfig(robots=40, seed=11, start=START)).cells[robot]
    loaded = (np.concatenate([c.telemetry.current for c in aged_fleet]) < -5) & (soc > 0.5) & (soc < 0.7)
    young = loaded & (cycles < np.percentile(cycles[loaded], 25))
    old = loaded & (cycles > np.percentile(cycles[loaded], 75))
    assert (voltage[old] / cells[old]).mean() < (voltage[young] / cells[young]).mean()


def test_the_battery_reports_its_health_and_fails_as_it_crosses_the_minimum(aged_fleet: list[SimChunk]) -> None:
    health = np.concatenate([c.telemetry.metrics[:, 3] for c in aged_fleet])
    robot = np.concatenate([c.telemetry.robot for c in aged_fleet])
    ts = np.concatenate([c.telemetry.ts for c in aged_fleet])
    assert health.min() > 0.69 and health.max() <= 1.0
    failures = [f for c in aged_fleet for f in c.failures if f.component == "battery"]
    assert failures
    for failure in failures:
        r = int(failure.robot_id.removeprefix("r"))
        before = (robot == r) & (ts < failure.ts.timestamp())
        assert health[before][-1] == pytest.approx(BATTERY_MIN_HEALTH, abs=2e-3)


def test_events_carry_a_state_snapshot(aged_fleet: list[SimChunk]) -> None:
    event = next(e for c in aged_fleet for e in c.events)
    assert isinstance(event, RobotEvent)
    assert set(event.state) == {"status", "soc", "x", "y"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"robots": 0}, "robots must be between"),
        ({"sites": 500, "robots": 10}, "sites must be between"),
        ({"start": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"start": datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC)}, "whole second"),
        ({"wear_rate": 0}, "wear_rate"),
        ({"initial_wear_max": 1.5}, "initial_wear_max"),
    ],
)
def test_impossible_configurations_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(SimulationError, match=fragment):
        SimConfig(**kwargs)


def test_history_start_is_a_whole_minute() -> None:
    start = history_start(1.5, now=datetime(2026, 3, 3, 12, 30, 45, 123, tzinfo=UTC))
    assert start == datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
