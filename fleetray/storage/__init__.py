"""PostgreSQL storage: the embedded server, migrations, partitions and the tables' read/write paths."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fleetray.errors import MissingExtraError

try:
    import psycopg  # noqa: F401
except ImportError as err:  # pragma: no cover - only on an edge-only install
    raise MissingExtraError('fleetray.storage needs psycopg: pip install "fleetray[platform]"') from err

from fleetray.storage.database import Database
from fleetray.storage.embedded import EmbeddedPostgres
from fleetray.storage.migrations import migrate
from fleetray.storage.partitions import premake_partitions

if TYPE_CHECKING:
    from fleetray.config import Settings

__all__ = ["Database", "EmbeddedPostgres", "migrate", "open_database"]


@contextlib.contextmanager
def open_database(settings: Settings, *, apply_migrations: bool = True) -> Iterator[Database]:
    """The configured database, ready to use: migrated, with partitions made ahead.

    With no ``database_url`` set this starts (or joins) the embedded PostgreSQL in the data dir and
    lets go of it when the block ends.
    """
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.embedded_database_dir)
        url = embedded.start()
    try:
        db = Database(url, schema=settings.database_schema, connect_timeout_s=settings.database_connect_timeout_s)
        if apply_migrations:
            migrate(db)
            with db.connect() as conn:
                premake_partitions(conn, now=datetime.now(UTC), days_ahead=settings.partition_premake_days)
        yield db
    finally:
        if embedded is not None:
            embedded.stop()
