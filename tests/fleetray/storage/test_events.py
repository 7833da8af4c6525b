from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetray.inventory import RobotRecord, SiteRecord, TenantRecord
from fleetray.schemas import RobotEvent, TaskEvent, validate_message
from fleetray.storage import Database
from fleetray.storage.dead_letters import DeadLetter, count_dead_letters, write_dead_letters
from fleetray.storage.events import read_events, write_events, write_task_events
from fleetray.storage.fleet import list_robots, list_tenants, upsert_robots, upsert_sites, upsert_tenant

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def event(tenant_id: str, seq: int, level: str = "WARNING", code: str = "MAIN_BRUSH_OVERCURRENT") -> RobotEvent:
    return validate_message(
        RobotEvent,
        {
            "tenant_id": tenant_id,
            "robot_id": "r1",
            "ts": T0 + timedelta(seconds=seq),
            "seq": seq,
            "level": level,
            "code": code,
            "component": "main_brush",
            "state": {"soc": 0.5},
        },
    )


def task_event(tenant_id: str, seq: int, kind: str, **extra: object) -> TaskEvent:
    return validate_message(
        TaskEvent,
        {
            "tenant_id": tenant_id,
            "robot_id": "r1",
            "ts": T0 + timedelta(minutes=seq),
            "seq": seq,
            "task_id": "t-1",
            "type": kind,
            "site_id": "s1",
            **extra,
        },
    )


def test_events_are_stored_once_and_filtered_by_level(db: Database, tenant_id: str) -> None:
    batch = [
        event(tenant_id, 1),
        event(tenant_id, 2, "ERROR", "MAIN_BRUSH_STALLED"),
        event(tenant_id, 3, "INFO"),
    ]
    with db.connect() as conn:
        assert write_events(conn, batch) == 3
        assert write_events(conn, batch) == 0
        errors = read_events(conn, tenant_id, start=T0, end=T0 + timedelta(hours=1), min_level="ERROR")
        everything = read_events(conn, tenant_id, start=T0, end=T0 + timedelta(hours=1))
    assert [e["code"] for e in errors] == ["MAIN_BRUSH_STALLED"]
    assert len(everything) == 3


def test_task_events_fold_into_the_tasks_table(db: Database, tenant_id: str) -> None:
    with db.connect() as conn:
        write_task_events(
            conn, [task_event(tenant_id, 1, "assigned", area_m2=500.0), task_event(tenant_id, 2, "started")]
        )
        write_task_events(
            conn,
            [
                task_event(tenant_id, 3, "progress", progress=0.5, cleaned_m2=250.0),
                task_event(tenant_id, 4, "completed", progress=1.0, cleaned_m2=500.0, efficiency=0.93),
            ],
        )
        assert write_task_events(conn, [task_event(tenant_id, 4, "completed", progress=1.0)]) == 0
        task = conn.execute(
            "SELECT status, area_m2, cleaned_m2, efficiency, assigned_at, started_at, finished_at FROM tasks "
            "WHERE tenant_id = %s AND task_id = 't-1'",
            (tenant_id,),
        ).fetchone()
    assert task == (
        "completed",
        500.0,
        500.0,
        0.93,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=4),
    )


def test_inventory_upserts_and_lists(db: Database, tenant_id: str) -> None:
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=tenant_id, name="Acme"))
        upsert_sites(conn, [SiteRecord(tenant_id=tenant_id, site_id="s1", name="HQ")])
        robot = RobotRecord(
            tenant_id=tenant_id,
            robot_id="r1",
            manufacturer="Gausium",
            model="Phantas",
            serial="G1",
            site_id="s1",
            capabilities=["vacuum"],
        )
        upsert_robots(conn, [robot])
        upsert_robots(conn, [robot.model_copy(update={"capabilities": ["vacuum", "mop"]})])
        robots = list_robots(conn, tenant_id)
        tenants = list_tenants(conn)
    assert robots[0]["capabilities"] == ["vacuum", "mop"]
    assert {"tenant_id": tenant_id, "name": "Acme", "robots": 1} in tenants


def test_dead_letters_keep_payload_and_reason(db: Database) -> None:
    with db.connect() as conn:
        write_dead_letters(
            conn,
            [
                DeadLetter("mqtt", "malformed_json", "line 1: Expecting value", b"{oops", topic="fr/v1/a/r/telemetry"),
                DeadLetter("mqtt", "schema", "telemetry.seq: got -1", b"{}"),
                DeadLetter("kafka", "schema", "telemetry.ts: got 'x'", b"{}"),
            ],
        )
        counts = count_dead_letters(conn)
        payload = conn.execute("SELECT payload FROM dead_letters WHERE reason = 'malformed_json'").fetchone()[0]
    assert counts == {"malformed_json": 1, "schema": 2}
    assert bytes(payload) == b"{oops"
