"""The benchmarks' database: a schema of their own, in a running PostgreSQL or an embedded one."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from fleetray.storage import Database, EmbeddedPostgres, migrate


@contextlib.contextmanager
def bench_database(work: Path) -> Iterator[Database]:
    """A migrated schema in ``FLEETRAY_DATABASE_URL``'s PostgreSQL (else an embedded one under ``work``),
    dropped afterwards."""
    embedded = None
    url = os.environ.get("FLEETRAY_DATABASE_URL")
    if url is None:
        embedded = EmbeddedPostgres(work / "pg")
        url = embedded.start()
    db = Database(url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    migrate(db)
    try:
        yield db
    finally:
        db.drop_schema()
        if embedded is not None:
            embedded.stop()
