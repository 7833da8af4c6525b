"""A shard's live state without Ray or a database: the same samples give the same state however they are batched."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.intake import Intake
from actors.shard_state import RobotInfo, ShardState
from fleetray.wire import TELEMETRY

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ROBOTS = [f"r{i}" for i in range(8)]


def stream(seed: int) -> list[bytes]:
    """Four minutes of eight robots, in order: idle spells, missing readings, spikes, overheating, a robot stuck
    for three minutes, another over its current limit."""
    rnd = random.Random(seed)
    documents = []
    for second in range(260):
        for index, robot in enumerate(ROBOTS):
            if rnd.random() < 0.1:
                continue  # a lost sample
            stuck = index == 0 and second < 200
            sample: dict[str, Any] = {
                "tenant_id": "t1",
                "robot_id": robot,
                "ts": (START + timedelta(seconds=second, milliseconds=rnd.randint(0, 999))).isoformat(),
                "seq": second,
                "status": "cleaning" if stuck or rnd.random() < 0.8 else rnd.choice(["idle", "charging"]),
                "pose": {"x": 1.0 if stuck else second * 0.7, "y": 2.0, "theta": 0.0},
                "battery": {"soc": rnd.choice([0.8, 0.1]), "voltage": 25.0 + rnd.random()},
                "components": {
                    "main_brush": {
                        "current_a": 6.0 if index == 1 and 100 <= second < 140 else 4.0 + rnd.gauss(0, 0.2),
                        "temp_c": 40.0 + rnd.gauss(0, 1) + (60 if rnd.random() < 0.02 else 0),
                    }
                },
            }
            if rnd.random() < 0.8:
                sample["battery"]["current"] = -10.0 + rnd.gauss(0, 1 if rnd.random() < 0.97 else 40)
            if rnd.random() < 0.5:
                sample["components"]["vacuum"] = {"rpm": 17000.0, "temp_c": 45.0 + rnd.gauss(0, 1)}
            if rnd.random() < 0.5:
                sample["metrics"] = {"wheel_vibration_g": rnd.random()}
            documents.append(json.dumps(sample).encode())
    return documents + rnd.sample(documents, 100)  # redelivered: stored already, and the state has moved on


def applied(documents: list[bytes], batch_sizes: list[int]) -> tuple[list, list, dict]:
    state = ShardState()
    state.register(RobotInfo("t1", robot, "hq", "Gausium", "Phantas", {"main_brush": 5.0}) for robot in ROBOTS)
    alerts, minutes, at = [], [], 0
    for size in batch_sizes:
        batch = documents[at : at + size]
        at += size
        result = state.apply(Intake(telemetry=[TELEMETRY.decode(d) for d in batch], documents=batch))
        alerts += [(c.robot_id, c.at, c.rule, c.raised, c.message) for c in result.alerts]
        minutes += result.closed_minutes
    views = {robot: (state.robot("t1", robot), state.windows("t1", robot)) for robot in ROBOTS}
    return sorted(alerts), sorted(minutes, key=repr), views


def test_the_same_samples_give_the_same_state_in_batches_of_any_size() -> None:
    documents = stream(seed=3)
    rnd = random.Random(4)
    sizes = []
    while sum(sizes) < len(documents):
        sizes.append(rnd.randint(1, 400))
    one_by_one = applied(documents, [1] * len(documents))
    batched = applied(documents, sizes)
    alerts, minutes, views = one_by_one
    assert {rule.split(":")[0] for _, _, rule, _, _ in alerts} == {
        "anomaly",
        "battery_low",
        "motor_overheat",
        "overcurrent",
        "stuck",
    }
    assert len(minutes) >= 8 * 3 * 9 and all(row[-1] is not None for row in minutes if row[3] == "battery.current")
    assert repr(batched) == repr(one_by_one)  # as text: NaN, a statistic a signal may lack, is unequal to itself
    assert views["r0"][0]["latest"]["seq"] == 259 and views["r0"][1]["anomaly_baselines"]
