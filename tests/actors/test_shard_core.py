from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.intake import RawMessage
from actors.shard_core import ShardCore
from fleetray.schemas import RobotEvent, validate_message
from fleetray.storage import Database
from fleetray.storage.alerts import read_alerts
from fleetray.storage.dead_letters import count_dead_letters
from tests.actors.conftest import raw, raw_bytes, sample


def core(db: Database, published: list | None = None) -> ShardCore:
    return ShardCore(0, 1, db, publish=(published.extend if published is not None else None))


def stored(db: Database, tenant_id: str) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM telemetry WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]


def test_batches_are_persisted_and_applied_once(db: Database, tenant_id: str, fleet: list[str]) -> None:
    shard = core(db)
    batch = [raw([sample(tenant_id, "r1", n) for n in range(1, 11)]), raw(sample(tenant_id, "r2", 1))]
    first = shard.ingest(batch)
    again = shard.ingest(batch)
    assert (first.telemetry, first.new_telemetry, first.duplicates) == (11, 11, 0)
    assert (again.new_telemetry, again.duplicates) == (0, 11)
    assert stored(db, tenant_id) == 11
    state = shard.state.robot(tenant_id, "r1")
    assert state["seq"] == 10 and state["site_id"] == "hq" and state["model"] == "Phantas"
    assert state["latest"]["battery"]["soc"] == 0.8


def test_bad_input_goes_to_dead_letters_with_its_reason(db: Database, tenant_id: str, fleet: list[str]) -> None:
    shard = core(db)
    good = sample(tenant_id, "r1", 1)
    future = sample(tenant_id, "r1", 2, ts=datetime.now(UTC) + timedelta(hours=1))
    ancient = sample(tenant_id, "r1", 3, ts=datetime.now(UTC) - timedelta(days=400))
    nan_payload = good.model_dump_json().replace('"soc":0.8', '"soc":NaN').encode()
    report = shard.ingest(
        [
            raw(good),
            raw_bytes(tenant_id, "r1", b"{not json"),
            raw_bytes(tenant_id, "r1", {"tenant_id": tenant_id, "robot_id": "r1", "seq": -5}),
            raw_bytes(tenant_id, "r1", nan_payload),
            raw(future),
            raw(ancient),
            raw(sample(tenant_id, "ghost", 1)),
            raw(sample(tenant_id, "r2", 1), topic_robot="r3"),
            raw_bytes(tenant_id, "r1", b"{}" + b" " * 2_000_000),
            RawMessage("", "", "", b"{}", "fr/v1/nonsense"),
        ]
    )
    expected = {
        "malformed_json": 1,
        "schema": 1,
        "non_finite": 1,
        "future_timestamp": 1,
        "expired_timestamp": 1,
        "unknown_robot": 1,
        "topic_mismatch": 1,
        "oversized": 1,
        "bad_topic": 1,
    }
    assert report.dead == expected
    assert report.new_telemetry == 1
    with db.connect() as conn:
        assert count_dead_letters(conn) == expected
    assert shard.stats()["dead_letters"] == expected


def test_robots_registered_after_start_are_learned(db: Database, tenant_id: str, fleet: list[str]) -> None:
    from fleetray.inventory import RobotRecord
    from fleetray.storage.fleet import upsert_robots

    shard = core(db)
    with db.connect() as conn:
        upsert_robots(
            conn, [RobotRecord(tenant_id=tenant_id, robot_id="r9", manufacturer="Tennant", model="T380AMR", serial="9")]
        )
    assert shard.ingest([raw(sample(tenant_id, "r9", 1))]).new_telemetry == 1


def test_alerts_raise_once_clear_with_hysteresis_and_are_published(
    db: Database, tenant_id: str, fleet: list[str]
) -> None:
    published: list = []
    shard = core(db, published)
    over = {"main_brush": {"current_a": 6.5, "temp_c": 40.0}}
    low = {"soc": 0.1, "voltage": 24.0, "current": -10.0, "temp": 30.0}
    shard.ingest([raw([sample(tenant_id, "r1", n, components=over, battery=low) for n in range(1, 9)])])
    middling = {"soc": 0.2, "voltage": 24.0, "current": -10.0, "temp": 30.0}
    in_band = {"main_brush": {"current_a": 4.8, "temp_c": 40.0}}  # under the 5 A limit, over the 4.5 A clear level
    shard.ingest([raw([sample(tenant_id, "r1", n, battery=middling, components=in_band) for n in range(9, 12)])])
    with db.connect() as conn:
        active = {a["rule"] for a in read_alerts(conn, tenant_id, state="active")}
    assert active == {"battery_low", "overcurrent:main_brush"}
    recovered = {"soc": 0.5, "voltage": 25.0, "current": -10.0, "temp": 30.0}
    shard.ingest([raw([sample(tenant_id, "r1", n, battery=recovered) for n in range(12, 14)])])
    with db.connect() as conn:
        alerts = read_alerts(conn, tenant_id)
    assert {(a["rule"], a["state"]) for a in alerts} == {
        ("battery_low", "resolved"),
        ("overcurrent:main_brush", "resolved"),
    }
    assert len(alerts) == 2
    assert [(p["rule"], p["state"]) for p in published] == [
        ("battery_low", "active"),
        ("overcurrent:main_brush", "active"),
        ("battery_low", "resolved"),
        ("overcurrent:main_brush", "resolved"),
    ]


def test_error_bursts_offline_and_stuck(db: Database, tenant_id: str, fleet: list[str]) -> None:
    shard = core(db)
    now = datetime.now(UTC).replace(microsecond=0)
    errors = [
        validate_message(
            RobotEvent,
            {
                "tenant_id": tenant_id,
                "robot_id": "r2",
                "ts": now - timedelta(seconds=30 - n),
                "seq": n,
                "level": "ERROR",
                "code": "VACUUM_MOTOR_FAILURE",
            },
        )
        for n in range(3)
    ]
    shard.ingest([RawMessage("events", tenant_id, "r2", e.model_dump_json().encode(), "t") for e in errors])
    still = [
        sample(tenant_id, "r3", n, ts=now - timedelta(seconds=400 - n), pose={"x": 1.0, "y": 1.0, "theta": 0})
        for n in range(200)
    ]
    shard.ingest([raw(still)])
    shard.ingest([raw(sample(tenant_id, "r1", 1, ts=now - timedelta(minutes=4)))])
    shard.tick(now)
    with db.connect() as conn:
        active = {(a["robot_id"], a["rule"]) for a in read_alerts(conn, tenant_id, state="active")}
    assert active >= {("r2", "error_burst"), ("r3", "stuck"), ("r1", "offline"), ("r3", "offline")}
    shard.ingest([raw(sample(tenant_id, "r1", 2, ts=now))])
    with db.connect() as conn:
        active = {(a["robot_id"], a["rule"]) for a in read_alerts(conn, tenant_id, state="active")}
    assert ("r1", "offline") not in active


def test_a_restarted_shard_rebuilds_its_state_from_postgres(db: Database, tenant_id: str, fleet: list[str]) -> None:
    shard = core(db)
    over = {"main_brush": {"current_a": 9.0}}
    # Built once: sample() stamps ts from the clock, and a resend must carry the very same ts.
    overcurrent = [sample(tenant_id, "r1", n, components=over) for n in range(1, 31)]
    shard.ingest([raw(overcurrent)])
    before = shard.state.robot(tenant_id, "r1")
    restarted = core(db)
    after = restarted.state.robot(tenant_id, "r1")
    assert after["seq"] == before["seq"] == 30
    assert after["latest"] == before["latest"]
    assert after["alerts"] == before["alerts"] == ["overcurrent:main_brush"]
    assert restarted.ingest([raw(overcurrent[-1])]).duplicates == 1
    recent_start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=100)
    shard.ingest([raw([sample(tenant_id, "r2", n, ts=recent_start + timedelta(seconds=n)) for n in range(1, 41)])])
    rebuilt = core(db)
    windows = rebuilt.state.windows(tenant_id, "r2")
    assert windows["five_minutes"]["battery.soc"]["n"] == 40
    assert [s["seq"] for s in shard.state.recent(tenant_id, "r2", limit=3)] == [38, 39, 40]
    assert rebuilt.state.recent(tenant_id, "r2", limit=3) == shard.state.recent(tenant_id, "r2", limit=3)


def test_a_closed_minute_is_stored_with_its_window_statistics(db: Database, tenant_id: str, fleet: list[str]) -> None:
    shard = core(db)
    start = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    current = [{"main_brush": {"current_a": 3.0 + (n % 7) / 10, "temp_c": 40.0}} for n in range(90)]
    shard.ingest(
        [
            raw(
                [
                    sample(tenant_id, "r1", n + 1, ts=start + timedelta(seconds=n), components=current[n])
                    for n in range(90)
                ]
            )
        ]
    )

    def stored(metric: str) -> tuple:
        with db.connect() as conn:
            return conn.execute(
                "SELECT n, mean, std, p50, rate_hz, anomaly FROM telemetry_1m "
                "WHERE tenant_id = %s AND robot_id = 'r1' AND bucket = %s AND metric = %s",
                (tenant_id, start, metric),
            ).fetchone()

    row = stored("components.main_brush.current_a")
    values = [3.0 + (n % 7) / 10 for n in range(60)]
    mean = sum(values) / 60
    assert row[:2] == (60, pytest.approx(mean))
    assert row[2] == pytest.approx((sum((v - mean) ** 2 for v in values) / 60) ** 0.5)
    assert row[3] == pytest.approx(sorted(values)[29] / 2 + sorted(values)[30] / 2)
    assert row[4] == pytest.approx(1.0)
    assert row[5] == 0.0  # scored as they came (cleaning), all within the scores' warm-up
    unscored = stored("battery.soc")
    assert unscored[5] is None and unscored[2] == pytest.approx(0.0, abs=1e-12)


def test_changed_alert_rules_apply_to_the_robots_held_without_a_restart(
    db: Database, tenant_id: str, fleet: list[str]
) -> None:
    from fleetray.storage.alert_policies import put_policy

    shard = core(db)
    shard.ingest([raw(sample(tenant_id, "r1", 1))])  # battery at 80 %: fine by the default thresholds
    assert shard.state.robot(tenant_id, "r1")["alerts"] == []
    with db.connect() as conn:
        put_policy(conn, tenant_id, "*", {"battery_low_raise": 0.85, "battery_low_clear": 0.9})
    shard.reload_policies()
    shard.ingest([raw(sample(tenant_id, "r1", 2))])
    assert shard.state.robot(tenant_id, "r1")["alerts"] == ["battery_low"]


def test_watched_robots_get_one_state_update_a_batch_with_their_newest_sample(
    db: Database, tenant_id: str, fleet: list[str]
) -> None:
    published: list = []
    shard = core(db, published)
    shard.ingest([raw(sample(tenant_id, "r3", 5, battery={"soc": 0.6}))])
    shard.watched_tenants = frozenset({tenant_id})
    late = sample(tenant_id, "r3", 4, battery={"soc": 0.1})  # older than what r3 holds: stored, not applied
    shard.ingest([raw([sample(tenant_id, "r1", n, battery={"soc": n / 10}) for n in (1, 2)]), raw(late)])
    updates = [update for update in published if update["kind"] == "state"]
    states = {update["robot_id"]: update for update in updates}
    assert sorted(states) == ["r1", "r3"] and len(updates) == 2
    assert (states["r1"]["seq"], states["r1"]["battery_soc"]) == (2, 0.2)
    assert (states["r3"]["seq"], states["r3"]["battery_soc"]) == (5, 0.6)
    for robot in ("r1", "r3"):  # the same as decoding the robot's latest sample from its ring
        assert states[robot] == {"kind": "state", **shard.state.robots[(tenant_id, robot)].update()}
