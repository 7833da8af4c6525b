"""Connections to PostgreSQL, scoped to fleetray's schema."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from fleetray.errors import DatabaseUnreachableError, StorageError

logger = logging.getLogger(__name__)


class Database:
    """Where fleetray's tables live: a PostgreSQL URL and a schema inside it.

    Args:
        url: a ``postgresql://`` URL (a Unix socket via ``?host=/path`` works too).
        schema: the schema holding fleetray's tables; tests use one per test.
        connect_timeout_s: how long to wait for the server before giving up.
    """

    def __init__(self, url: str, *, schema: str = "public", connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s

    def __repr__(self) -> str:
        return f"Database(host={self.host!r}, schema={self.schema!r})"

    @property
    def host(self) -> str:
        """The server's address as a user would recognise it (no credentials)."""
        return describe_host(self.url)

    @contextlib.contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection whose search_path is this database's schema, closed when the block ends.

        The transaction commits when the block ends without an exception and rolls back otherwise.

        Raises:
            DatabaseUnreachableError: the server does not answer; the message names the host.
        """
        conn = self.open(autocommit=autocommit)
        with conn:
            yield conn

    def open(self, *, autocommit: bool = True) -> psycopg.Connection:
        """A long-lived connection for a hot path (use ``conn.transaction()`` per unit of work); close it yourself.

        Raises:
            DatabaseUnreachableError: the server does not answer; the message names the host.
        """
        try:
            return psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=max(2, round(self.connect_timeout_s)),
                options=f"-c search_path={self.schema}",
                application_name="fleetray",
            )
        except psycopg.OperationalError as err:
            reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise DatabaseUnreachableError(
                f"cannot reach PostgreSQL at {self.host}: {reason} (check FLEETRAY_DATABASE_URL)"
            ) from err

    def create_schema(self) -> None:
        """Create the schema if it does not exist yet."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))

    def drop_schema(self) -> None:
        """Drop the schema and everything in it. For tests and for wiping a demo."""
        if self.schema == "public":
            raise StorageError("refusing to drop the public schema; drop its tables by hand if you mean it")
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


def describe_host(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL, or the socket directory, without credentials."""
    parts = urlsplit(url)
    query_host = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("host")
    host = parts.hostname or query_host or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or ''}"
