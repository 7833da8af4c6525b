import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleetray.features import Aggregate, MinuteAggregator, telemetry_signals
from fleetray.features.signals import BATTERY_SIGNALS, telemetry_signal_row
from fleetray.schemas import Telemetry
from fleetray.wire import TELEMETRY

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def feed(aggregator: MinuteAggregator, seconds: range) -> list[datetime]:
    """One sample a second, the value being the second; returns the minutes that closed."""
    closed = []
    for second in seconds:
        closed += [bucket for bucket, _ in aggregator.add(START + timedelta(seconds=second), {"v": float(second)})]
    return closed


def test_a_minute_closes_when_the_next_one_starts_and_carries_its_aggregates() -> None:
    aggregator = MinuteAggregator()
    assert feed(aggregator, range(0, 121)) == [START, START + timedelta(minutes=1)]
    previous = aggregator.previous["v"]
    assert (previous.n, previous.low, previous.high, previous.last, previous.mean) == (60, 60, 119, 119, 89.5)
    assert aggregator.current["v"].n == 1


def test_the_five_minute_window_merges_the_current_minute_and_the_four_before() -> None:
    aggregator = MinuteAggregator(keep=4)
    feed(aggregator, range(0, 7 * 60 + 30))  # minutes 0..6 complete, half of minute 7
    window = aggregator.window(5)["v"]
    assert window.n == 4 * 60 + 30
    assert (window.low, window.high, window.last) == (180, 449, 449)
    assert window.mean == pytest.approx(sum(range(180, 450)) / 270)


def test_a_gap_leaves_old_minutes_out_of_the_window() -> None:
    aggregator = MinuteAggregator(keep=4)
    feed(aggregator, range(0, 60))
    feed(aggregator, range(10 * 60, 10 * 60 + 5))
    assert aggregator.window(5)["v"].n == 5
    assert aggregator.previous == {}


def test_late_samples_of_a_closed_minute_are_not_folded_in() -> None:
    aggregator = MinuteAggregator()
    feed(aggregator, range(60, 70))
    assert aggregator.add(START + timedelta(seconds=5), {"v": -1.0}) == []
    assert aggregator.current["v"].low == 60
    assert aggregator.window(5)["v"].n == 10


def test_a_minute_closes_only_after_its_grace_period_and_takes_late_samples_until_then() -> None:
    aggregator = MinuteAggregator(grace_s=12)
    assert feed(aggregator, range(0, 70)) == []
    assert aggregator.add(START + timedelta(seconds=59.5), {"v": -1.0}) == []  # late, within the grace period
    assert aggregator.previous["v"].n == 61 and aggregator.previous["v"].low == -1
    assert aggregator.window(5)["v"].n == 71
    closed = aggregator.add(START + timedelta(seconds=72), {"v": 72.0})
    assert [(bucket, aggregates["v"].n) for bucket, aggregates in closed] == [(START, 61)]
    assert aggregator.add(START + timedelta(seconds=30), {"v": -2.0}) == []  # too late now
    assert aggregator.previous["v"].n == 61


def test_a_jump_of_several_minutes_closes_every_open_minute() -> None:
    aggregator = MinuteAggregator(grace_s=20)
    feed(aggregator, range(0, 65))
    closed = aggregator.add(START + timedelta(minutes=5), {"v": 300.0})
    assert [bucket for bucket, _ in closed] == [START, START + timedelta(minutes=1)]
    assert aggregator.window(5)["v"].n == 5 + 1  # minute 1 (60-64 s) is still among the last five


def test_merging_aggregates_matches_adding_every_value() -> None:
    values = [3.0, -1.0, 7.5, 2.0, 2.0]
    whole, first, second = Aggregate(), Aggregate(), Aggregate()
    for value in values:
        whole.add(value)
    for value in values[:2]:
        first.add(value)
    for value in values[2:]:
        second.add(value)
    first.merge(second)
    assert first.as_dict() == whole.as_dict()


def test_a_closed_minute_has_the_statistics_the_bag_pipeline_computes_for_the_same_samples() -> None:
    """Shards and the bag pipeline share one definition of a window (fleetray.features.windows)."""
    from fleetray.features import EwmaScore
    from fleetray.features.windows import STATISTICS, window_statistics

    rng = np.random.default_rng(7)
    # Times as a datetime holds them (to the microsecond), so both sides see the same samples.
    t_s = np.array(
        [datetime.fromtimestamp(t, UTC).timestamp() for t in START.timestamp() + np.sort(rng.uniform(0, 120, 200))]
    )
    values = 3.0 + 0.01 * (t_s - t_s[0]) + rng.normal(0, 0.2, len(t_s))
    values[150] = 9.0  # a spike in the second minute
    aggregator, scorer, closed = MinuteAggregator(), EwmaScore(), []
    for t, value in zip(t_s.tolist(), values.tolist(), strict=True):
        closed += aggregator.add(datetime.fromtimestamp(t, UTC), {"v": value}, {"v": scorer.score(value)})
    closed += aggregator.add(START + timedelta(minutes=3), {})  # closes the second minute
    batch = window_statistics(t_s, values, 60.0)
    assert [bucket.timestamp() for bucket, _ in closed] == batch["window_start_s"].tolist()
    for i, (_, minute) in enumerate(closed):
        live = minute["v"].as_dict()
        for name in STATISTICS:
            assert live[name] == pytest.approx(batch[name][i], rel=1e-9, abs=1e-12), name
    second = closed[1][1]["v"]
    inside = values[(t_s >= START.timestamp() + 60) & (t_s < START.timestamp() + 120)]
    assert second.n == len(inside) and second.p95 == pytest.approx(np.percentile(inside, 95))
    assert second.std == pytest.approx(inside.std()) and second.anomaly > 10


def test_a_signal_missing_from_some_samples_is_summarised_over_the_samples_that_have_it() -> None:
    aggregator = MinuteAggregator()
    for second in range(10):
        signals = {"a": float(second)} | ({"b": 2.0 * second} if second % 2 else {})
        aggregator.add(START + timedelta(seconds=second), signals)
    current = aggregator.current
    assert (current["a"].n, current["b"].n) == (10, 5)
    assert (current["b"].mean, current["b"].last, current["b"].rate_hz) == (10.0, 18.0, 0.5)
    assert current["b"].slope_per_s == pytest.approx(2.0)
    assert math.isnan(current["a"].anomaly)  # nothing was scored


def test_merged_windows_keep_only_the_statistics_that_merge_exactly() -> None:
    aggregator = MinuteAggregator(keep=4)
    feed(aggregator, range(0, 150))
    window = aggregator.window(5)["v"]
    assert window.std == pytest.approx(float(np.std(np.arange(150.0))))
    assert math.isnan(window.p50) and math.isnan(window.slope_per_s)


def test_window_percentiles_match_numpys_with_missing_values_ties_and_empty_signals() -> None:
    from fleetray.features.windows import PERCENTILES, window_summary

    rng = np.random.default_rng(7)
    for _ in range(200):
        values = np.round(rng.normal(size=(int(rng.integers(1, 70)), 12)) * 5, int(rng.integers(0, 3)))
        values[rng.random(values.shape) < rng.random()] = np.nan
        values[:, 3] = np.nan  # a signal no sample has
        summary = window_summary(np.arange(len(values), dtype=np.float64), values)
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):  # numpy warns on the empty signal
            expected = np.nanpercentile(values, PERCENTILES, axis=0)
        got = np.vstack([summary["p05"], summary["p50"], summary["p95"]])
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_minutes_summarised_together_equal_each_summarised_alone() -> None:
    """A shard summarises a batch's closed minutes side by side; whatever their lengths, gaps and idle stretches,
    each comes out as it would alone, and as window_summary gives it."""
    from fleetray.features.online import summarise_minutes
    from fleetray.features.windows import window_summary

    rng = np.random.default_rng(3)
    together, alone, raw = [], [], []
    for robot in range(12):
        aggregators = (MinuteAggregator(), MinuteAggregator())
        rows = []
        for second in range(int(rng.integers(1, 60))):
            names = ["a", "b", "c"] if robot % 3 else list(rng.permutation(["a", "b", "c", "d"])[: rng.integers(0, 5)])
            signals = {name: float(rng.normal()) for name in names}
            scores = {} if robot % 4 == 0 and second % 7 == 0 else {name: float(rng.random()) for name in names[:2]}
            for aggregator in aggregators:
                aggregator.add_deferred(START + timedelta(seconds=second), signals, scores)
            rows.append((second, signals, scores))
        closes_at = START + timedelta(seconds=60)
        together += aggregators[0].add_deferred(closes_at, {"a": 0.0})
        alone += aggregators[1].add_deferred(closes_at, {"a": 0.0})
        raw.append(rows)
    summarise_minutes(together)
    for mine, theirs, rows in zip(together, alone, raw, strict=True):
        assert mine.samples is None
        assert list(mine.aggregates) == list(theirs.aggregates)
        names = list(mine.aggregates)
        times = np.array([second for second, _, _ in rows], float) + START.timestamp()
        values = np.array([[signals.get(name, np.nan) for name in names] for _, signals, _ in rows])
        scores = np.array([[scored.get(name, np.nan) for name in names] for _, _, scored in rows])
        expected = window_summary(times, values, scores)
        for k, name in enumerate(names):
            got, single = mine.aggregates[name].as_dict(), theirs.aggregates[name].as_dict()
            for statistic, value in got.items():
                assert value == pytest.approx(single[statistic], nan_ok=True, rel=1e-12, abs=1e-12)
                assert value == pytest.approx(float(expected[statistic][k]), nan_ok=True, rel=1e-9, abs=1e-9)


def test_a_samples_signals_are_named_flat_in_a_fixed_order_without_the_values_it_lacks() -> None:
    full = {
        "tenant_id": "t1",
        "robot_id": "r1",
        "ts": START,
        "seq": 1,
        "status": "cleaning",
        "velocity": {"linear": 0.5, "angular": -0.1},
        "battery": {"soc": 0.8, "voltage": 25.0, "current": -3.0, "temp": 30.0},
        "components": {"vacuum": {"current_a": 6.0, "temp_c": 40.0, "rpm": 17000, "usage_h": 12.0}},
        "metrics": {"wheel_vibration_g": 0.07},
        "system": {"cpu": 20.0, "mem": 40.0, "disk": 1.0, "net": 2.0},
    }
    lacking = {
        **full,
        "velocity": None,
        "battery": {"soc": 0.8, "temp": 30.0},
        "components": {"vacuum": {"rpm": 17000}, "main_brush": {"current_a": 4.0}},
        "system": {"cpu": 20.0},
    }
    assert telemetry_signals(Telemetry.model_validate(lacking)) == {
        "battery.soc": 0.8,
        "battery.temp": 30.0,
        "components.vacuum.rpm": 17000.0,
        "components.main_brush.current_a": 4.0,
        "metrics.wheel_vibration_g": 0.07,
        "system.cpu": 20.0,
    }
    for document in (full, lacking):  # the shards' structs name them exactly as the models do
        sample = Telemetry.model_validate(document)
        names, values = telemetry_signal_row(TELEMETRY.from_model(sample))
        assert list(zip(names, values, strict=True)) == list(telemetry_signals(sample).items())
    names, values = telemetry_signal_row(TELEMETRY.from_model(Telemetry.model_validate(full)))
    assert len(names) == len(values) == 4 + 2 + 4 + 1 + 4
    assert names[:7] == (*BATTERY_SIGNALS, "velocity.linear", "velocity.angular", "components.vacuum.current_a")
