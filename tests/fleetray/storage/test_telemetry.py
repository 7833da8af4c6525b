from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fleetray.schemas import Telemetry, validate_message
from fleetray.storage import Database
from fleetray.storage.partitions import ensure_partitions, list_partitions, partition_name, premake_partitions
from fleetray.storage.retention import drop_expired_partitions
from fleetray.storage.telemetry import (
    TelemetryWriter,
    latest_telemetry,
    read_minutes,
    read_telemetry,
    rollup_minutes,
    write_minute_aggregates,
)

START = datetime(2026, 3, 1, 23, 59, 0, tzinfo=UTC)


def samples(
    tenant_id: str, robot_id: str, count: int, *, start: datetime = START, first_seq: int = 1
) -> list[Telemetry]:
    return [
        validate_message(
            Telemetry,
            {
                "tenant_id": tenant_id,
                "robot_id": robot_id,
                "ts": start + timedelta(seconds=n),
                "seq": first_seq + n,
                "status": "cleaning",
                "battery": {"soc": 0.9 - n / 1000, "voltage": 25.0, "current": -10.0, "temp": 30.0},
                "components": {"main_brush": {"current_a": 4.0 + n / 100, "usage_h": 100 + n / 3600}},
                "metrics": {"wheel_vibration_g": 0.05},
            },
        )
        for n in range(count)
    ]


def count_rows(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]


def test_a_repeated_batch_changes_nothing(db: Database, tenant_id: str) -> None:
    batch = samples(tenant_id, "r1", 120)
    writer = TelemetryWriter()
    with db.connect() as conn:
        assert len(writer.write_messages(conn, batch)) == 120
    with db.connect() as conn:
        assert writer.write_messages(conn, batch) == []
    with db.connect() as conn:
        before = read_telemetry(conn, tenant_id, "r1", start=START, end=START + timedelta(hours=1))
    overlapping = batch[60:] + samples(tenant_id, "r1", 30, start=START + timedelta(seconds=120), first_seq=121)
    with db.connect() as conn:
        assert len(TelemetryWriter().write_messages(conn, overlapping)) == 30
    assert count_rows(db) == 150
    with db.connect() as conn:
        after = read_telemetry(conn, tenant_id, "r1", start=START, end=START + timedelta(hours=1))
    assert after[:120] == before
    assert [row["seq"] for row in after] == list(range(1, 151))


def test_duplicates_inside_one_batch_are_stored_once(db: Database, tenant_id: str) -> None:
    batch = samples(tenant_id, "r1", 10)
    with db.connect() as conn:
        assert TelemetryWriter().write_messages(conn, batch + batch[:5]) == batch


def test_a_redelivery_keeps_what_its_transaction_wrote_before_it(db: Database, tenant_id: str) -> None:
    first, more = samples(tenant_id, "r1", 20), samples(tenant_id, "r1", 10, start=START + timedelta(seconds=20))
    writer = TelemetryWriter()
    with db.connect() as conn:
        assert writer.write_messages(conn, first) == first
        assert writer.write_messages(conn, first[10:] + more) == more  # its stored keys roll back only its own COPY
    assert count_rows(db) == 30


def test_a_minute_written_again_keeps_the_second_figures(db: Database, tenant_id: str) -> None:
    def minute(bucket: datetime, mean: float) -> tuple:
        return (tenant_id, "r1", bucket, "battery.soc", 60, mean, 0.1, 0.9, 0.5)

    later = START + timedelta(minutes=1)
    with db.connect() as conn:
        assert write_minute_aggregates(conn, [minute(START, 0.5)]) == 1
        assert write_minute_aggregates(conn, [minute(START, 0.4), minute(later, 0.3)]) == 2
        stored = read_minutes(
            conn, tenant_id, "r1", metric="battery.soc", start=START, end=later + timedelta(minutes=1)
        )
    assert [(row["bucket"], row["mean"]) for row in stored] == [(START, 0.4), (later, 0.3)]


def test_partitions_are_created_for_the_days_a_batch_reaches(db: Database, tenant_id: str) -> None:
    batch = samples(tenant_id, "r1", 120)  # 23:59 to 00:01 spans two days
    with db.connect() as conn:
        TelemetryWriter().write_messages(conn, batch)
        days = list_partitions(conn)
    assert date(2026, 3, 1) in days and date(2026, 3, 2) in days
    with db.connect() as conn:
        parts = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM telemetry GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [name.split(".")[-1] for name, _ in parts] == ["telemetry_p20260301", "telemetry_p20260302"]
    assert [n for _, n in parts] == [60, 60]


def test_partitions_are_made_ahead_and_creation_is_idempotent(db: Database) -> None:
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    with db.connect() as conn:
        created = premake_partitions(conn, now=now, days_ahead=3)
        assert created == [partition_name(date(2026, 6, d)) for d in range(9, 14)]
        assert premake_partitions(conn, now=now, days_ahead=3) == []
        assert ensure_partitions(conn, [date(2026, 6, 10)]) == []


def test_retention_drops_old_partitions_and_keeps_aggregates(db: Database, tenant_id: str) -> None:
    old = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    recent = datetime(2026, 2, 20, 8, 0, tzinfo=UTC)
    with db.connect() as conn:
        writer = TelemetryWriter()
        writer.write_messages(conn, samples(tenant_id, "r1", 180, start=old))
        writer.write_messages(conn, samples(tenant_id, "r1", 180, start=recent, first_seq=1000))
    with db.connect() as conn:
        dropped = drop_expired_partitions(conn, now=datetime(2026, 2, 21, tzinfo=UTC), retention_days=30)
    assert dropped == ["telemetry_p20260110"]
    with db.connect() as conn:
        raw_old = read_telemetry(conn, tenant_id, "r1", start=old, end=old + timedelta(days=1))
        raw_recent = read_telemetry(conn, tenant_id, "r1", start=recent, end=recent + timedelta(days=1))
        minutes = read_minutes(
            conn, tenant_id, "r1", metric="components.main_brush.current_a", start=old, end=old + timedelta(hours=1)
        )
        remaining = list_partitions(conn)
    assert raw_old == []
    assert len(raw_recent) == 180
    assert [m["n"] for m in minutes] == [60, 60, 60]
    assert minutes[0]["min"] == 4.0 and minutes[0]["max"] == 4.59
    assert minutes[2]["last"] == 5.79
    assert date(2026, 1, 10) not in remaining and date(2026, 2, 20) in remaining


def test_rollup_is_idempotent_and_covers_every_signal(db: Database, tenant_id: str) -> None:
    with db.connect() as conn:
        TelemetryWriter().write_messages(conn, samples(tenant_id, "r1", 60, start=datetime(2026, 4, 1, tzinfo=UTC)))
    window = {"start": datetime(2026, 4, 1, tzinfo=UTC), "end": datetime(2026, 4, 1, 0, 1, tzinfo=UTC)}
    with db.connect() as conn:
        first = rollup_minutes(conn, **window, tenant_id=tenant_id)
        second = rollup_minutes(conn, **window, tenant_id=tenant_id)
        metrics = {row[0]: row[1:] for row in conn.execute("SELECT metric, n, mean FROM telemetry_1m")}
    assert first == second == len(metrics)
    assert set(metrics) == {
        "battery.soc",
        "battery.voltage",
        "battery.current",
        "battery.temp",
        "components.main_brush.current_a",
        "components.main_brush.usage_h",
        "metrics.wheel_vibration_g",
    }
    assert metrics["battery.voltage"] == (60, 25.0)


def test_latest_telemetry_gives_each_robots_newest_sample(db: Database, tenant_id: str) -> None:
    with db.connect() as conn:
        writer = TelemetryWriter()
        writer.write_messages(conn, samples(tenant_id, "r1", 5) + samples(tenant_id, "r2", 9))
        writer.write_messages(conn, samples("other-tenant", "r1", 50))
        latest = latest_telemetry(conn, tenant_id, since=START - timedelta(minutes=1))
    assert [(row["robot_id"], row["seq"]) for row in latest] == [("r1", 5), ("r2", 9)]


def test_the_sql_rollup_computes_the_windows_the_shards_compute(db: Database, tenant_id: str) -> None:
    """Minutes rebuilt from raw telemetry carry the shared window statistics (anomaly aside: only a shard
    scores samples as they come)."""
    from fleetray.features import MinuteAggregator, telemetry_signals

    start = datetime(2026, 4, 2, tzinfo=UTC)
    batch = samples(tenant_id, "r1", 60, start=start)
    with db.connect() as conn:
        TelemetryWriter().write_messages(conn, batch)
        rollup_minutes(conn, start=start, end=start + timedelta(minutes=1), tenant_id=tenant_id)
        stored = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT metric, std, p05, p50, p95, slope_per_s, rate_hz, anomaly FROM telemetry_1m WHERE bucket = %s",
                (start,),
            )
        }
    aggregator = MinuteAggregator()
    for sample in batch:
        aggregator.add(sample.ts, telemetry_signals(sample))
    for metric, live in aggregator.current.items():
        std, p05, p50, p95, slope, rate, anomaly = stored[metric]
        assert (std, p05, p50, p95) == pytest.approx((live.std, live.p05, live.p50, live.p95), abs=1e-9)
        assert (slope, rate) == pytest.approx((live.slope_per_s, live.rate_hz), abs=1e-9)
        assert anomaly is None
    assert stored["components.main_brush.current_a"][4] == pytest.approx(0.01)  # 4.0 + n / 100 at 1 Hz
