"""A numbered-SQL migration runner.

Migrations are the files ``migrations/NNNN_name.sql`` in this package, applied in order, each in
its own transaction, and recorded in ``schema_migrations`` with a checksum. Applying is
idempotent and safe to run from several processes at once (an advisory lock serialises them);
a failing migration leaves the ones before it applied. A
file changed after it was applied is an error, not a silent divergence.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources

import psycopg

from fleetray.errors import MigrationError
from fleetray.storage.database import Database

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x666C6565  # "flee"; any constant shared by every fleetray process works


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migration files shipped with fleetray, in order."""
    found = []
    for entry in resources.files("fleetray.storage").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def applied_versions(db: Database) -> dict[int, str]:
    """Versions already applied in ``db``, with their checksums."""
    with db.connect() as conn:
        _ensure_table(conn)
        return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def migrate(db: Database) -> list[Migration]:
    """Apply the migrations ``db`` lacks; return the ones applied now.

    Raises:
        MigrationError: a migration fails (the message names it), or an applied file has changed.
    """
    db.create_schema()
    applied_now: list[Migration] = []
    with db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            _ensure_table(conn)
            done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            for migration in available_migrations():
                recorded = done.get(migration.version)
                if recorded is None:
                    _apply(conn, db, migration)
                    applied_now.append(migration)
                elif recorded != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name}.sql changed after it was "
                        f"applied to schema {db.schema!r}; add a new migration instead of editing it"
                    )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _apply(conn: psycopg.Connection, db: Database, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as err:
        raise MigrationError(f"migration {migration.version:04d}_{migration.name}.sql failed on {db!r}: {err}") from err
    logger.info("applied migration %04d_%s", migration.version, migration.name)


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
