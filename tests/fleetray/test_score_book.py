"""The shard's batched anomaly scores against EwmaScore, sample by sample: identical to the last bit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from actors.intake import Intake
from actors.shard_state import RobotInfo, ShardState
from fleetray.features import telemetry_signals
from fleetray.features.anomaly import EwmaScore, SampleScorer
from fleetray.features.score_book import ScoreBook
from fleetray.wire import TELEMETRY
from tests.actors.conftest import sample


def test_each_slot_scores_and_learns_exactly_as_an_ewma_score_would() -> None:
    rnd = random.Random(3)
    book = ScoreBook(warmup=5)
    slots = [book.allocate() for _ in range(1500)]  # past the first capacity: the arrays grow
    references = {slot: EwmaScore(warmup=5) for slot in slots}
    for _ in range(40):
        batch = []  # a slot up to three times, as a robot's samples within one batch
        counts: dict[int, int] = {}
        for slot in rnd.sample(slots, 300) * rnd.choice((1, 1, 3)):
            batch.append((slot, rnd.gauss(10.0, 3.0) * rnd.choice((1.0, 1.0, 0.0, 1e6)), counts.get(slot, 0)))
            counts[slot] = counts.get(slot, 0) + 1
        got = book.score([s for s, _, _ in batch], [v for _, v, _ in batch], [r for _, _, r in batch])
        # The reference learns each slot's values in the order of their rounds, as time order requires.
        expected = {}
        for position, (slot, value, _) in sorted(enumerate(batch), key=lambda item: item[1][2]):
            expected[position] = references[slot].score(value)
        assert got == [expected[position] for position in range(len(batch))]
    for slot in slots:
        assert book.baseline(slot) == references[slot]
    assert book.score([], [], []) == []


def test_a_shard_scores_its_robots_as_each_robots_sample_scorer_would_however_batched() -> None:
    """Robots idle now and then (not scored), samples arrive one to six per robot per batch, redeliveries
    among them: the baselines, the stored minutes' anomaly scores and the alerts match one-by-one scoring."""
    rnd = random.Random(11)
    robots = [f"r{i}" for i in range(12)]
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    samples = {robot: [] for robot in robots}
    for robot in robots:
        for seq in range(1, 400):
            spike = 40.0 if rnd.random() < 0.01 else 0.0
            samples[robot].append(
                sample(
                    "acme",
                    robot,
                    seq,
                    ts=start + timedelta(seconds=seq),
                    status="idle" if seq % 97 < 9 else "cleaning",
                    battery={"soc": 0.8, "current": -10 + rnd.gauss(0, 1) + spike, "temp": 30 + rnd.random()},
                    components={"main_brush": {"current_a": 3 + rnd.random(), "temp_c": 40.0 + rnd.random()}},
                )
            )

    def shard() -> ShardState:
        state = ShardState()
        state.register(RobotInfo("acme", robot, "hq", "Gausium", "Phantas", {"main_brush": 3.9}) for robot in robots)
        return state

    def apply(state: ShardState, batch: list) -> tuple[list, list]:
        structs = [TELEMETRY.from_model(message) for message in batch]
        result = state.apply(Intake(telemetry=structs, documents=[b"{}"] * len(structs)))
        return result.alerts, result.closed_minutes

    one_by_one, batched = shard(), shard()
    alerts_one, minutes_one, alerts_batched, minutes_batched = [], [], [], []
    cursor = dict.fromkeys(robots, 0)
    while any(cursor[robot] < len(samples[robot]) for robot in robots):
        batch = []
        for robot in robots:
            take = rnd.randint(1, 6)
            batch += samples[robot][cursor[robot] : cursor[robot] + take]
            cursor[robot] += take
        redelivered = rnd.sample(batch, min(3, len(batch)))
        for message in batch:
            alerts, minutes = apply(one_by_one, [message])
            alerts_one += alerts
            minutes_one += minutes
        alerts, minutes = apply(batched, batch + redelivered)
        alerts_batched += alerts
        minutes_batched += minutes
    assert sorted(minutes_batched, key=repr) == sorted(minutes_one, key=repr)
    assert any(row[-1] is not None and row[-1] > 8 for row in minutes_one)  # the spikes were scored
    key = lambda change: (change.robot_id, change.at, change.rule)  # noqa: E731
    assert sorted(alerts_batched, key=key) == sorted(alerts_one, key=key)
    assert any(change.rule == "anomaly" for change in alerts_one)
    for robot in robots:
        scorer = SampleScorer()
        for message in samples[robot]:
            scorer.score(message.status.value, telemetry_signals(message))
        expected = {name: {"mean": s.mean, "var": s.var, "n": s.n} for name, s in scorer.scores.items()}
        assert batched.windows("acme", robot)["anomaly_baselines"] == expected
        assert one_by_one.windows("acme", robot)["anomaly_baselines"] == expected
