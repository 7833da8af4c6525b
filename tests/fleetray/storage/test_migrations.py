from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fleetray.errors import MigrationError
from fleetray.storage import Database, migrate
from fleetray.storage.migrations import Migration, applied_versions, available_migrations

EXPECTED_TABLES = {
    "tenants",
    "api_keys",
    "robots",
    "sites",
    "telemetry",
    "telemetry_1m",
    "events",
    "alerts",
    "tasks",
    "task_events",
    "maintenance_records",
    "bags",
    "models",
    "dead_letters",
    "schema_migrations",
}


@pytest.fixture
def empty_db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url, schema=f"test_{uuid.uuid4().hex[:12]}")
    yield database
    database.drop_schema()


def test_migrations_apply_once_and_are_idempotent(empty_db: Database) -> None:
    first = migrate(empty_db)
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert migrate(empty_db) == []
    assert set(applied_versions(empty_db)) == {m.version for m in available_migrations()}
    with empty_db.connect() as conn:
        tables = {
            row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (empty_db.schema,))
        }
    assert tables >= EXPECTED_TABLES


def test_telemetry_is_range_partitioned(db: Database) -> None:
    with db.connect() as conn:
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'telemetry' AND n.nspname = %s",
            (db.schema,),
        ).fetchone()
    assert kind == ("p",)


def test_a_changed_migration_file_is_refused(empty_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(empty_db)
    edited = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in available_migrations()]
    monkeypatch.setattr("fleetray.storage.migrations.available_migrations", lambda: edited)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_db)


def test_a_failing_migration_names_itself_and_leaves_earlier_ones(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        *available_migrations(),
        Migration(9999, "broken", "CREATE TABLE nope (id int REFERENCES missing);"),
    ]
    monkeypatch.setattr("fleetray.storage.migrations.available_migrations", lambda: broken)
    with pytest.raises(MigrationError, match=r"9999_broken\.sql"):
        migrate(empty_db)
    assert 9999 not in applied_versions(empty_db)
    assert 1 in applied_versions(empty_db)
