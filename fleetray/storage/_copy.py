"""Idempotent bulk insert: COPY straight into the table, or where a row is stored already, COPY into a temporary
staging table, then INSERT ... ON CONFLICT."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import psycopg
from psycopg import postgres, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format


class _JsonText(str):
    """Marks nothing by itself: the class :class:`_JsonTextBinaryDumper` is registered under."""


class _JsonTextBinaryDumper(Dumper):
    """Sends JSON that is already text (str or bytes) to a jsonb column in binary COPY, as it is."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str | bytes) -> bytes:
        return b"\x01" + (obj if isinstance(obj, bytes) else obj.encode())  # jsonb's binary format: version 1, text


class _Statements(NamedTuple):
    create_stage: bytes
    copy: bytes
    copy_binary: bytes
    copy_direct: bytes
    copy_direct_binary: bytes
    insert_new: bytes


@functools.cache
def _statements(table: str, columns: tuple[str, ...]) -> _Statements:
    """The SQL of staging and inserting ``columns`` of ``table``, composed once: a shard stages a batch several
    times a second, and composing the identifiers anew each time cost more than sending the statements."""
    stage = sql.Identifier(f"{table}_stage")
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    create = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(stage, column_list)
    direct = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), column_list)
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING")
    binary = sql.SQL(" (FORMAT BINARY)")
    return _Statements(
        create.format(stage, sql.Identifier(table)).as_string().encode(),
        copy.as_string().encode(),
        (copy + binary).as_string().encode(),
        direct.as_string().encode(),
        (direct + binary).as_string().encode(),
        insert.format(sql.Identifier(table), column_list, column_list, stage).as_string().encode(),
    )


def _copy_rows(
    conn: psycopg.Connection, text: bytes, binary: bytes, rows: Iterable[tuple], types: Sequence[str] | None
) -> None:
    """Run one of the COPY statements with ``rows``, binary where ``types`` are given."""
    cursor = conn.cursor()
    if types is not None:
        cursor.adapters.register_dumper(_JsonText, _JsonTextBinaryDumper)  # by oid too, so set_types picks it
    with cursor.copy(text if types is None else binary) as copy:
        if types is not None:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_into_stage(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple],
    types: Sequence[str] | None = None,
) -> str:
    """COPY ``rows`` into a session-private staging copy of ``table``; return the stage's name.

    With ``types`` (one PostgreSQL type name per column) the COPY is binary: about half the work of
    the text format on both ends, as floats and timestamps are not printed and parsed again. jsonb
    columns then take JSON text (str or bytes). The stage is emptied at commit, so it is reused
    batch after batch without DDL.
    """
    statements = _statements(table, tuple(columns))
    conn.execute(statements.create_stage)
    _copy_rows(conn, statements.copy, statements.copy_binary, rows, types)
    return f"{table}_stage"


def insert_new_from_stage(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> int:
    """Move the staged rows into ``table``, skipping rows whose key exists; return how many were new."""
    return conn.execute(_statements(table, tuple(columns)).insert_new).rowcount


def copy_idempotent(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple],
    types: Sequence[str] | None = None,
) -> int:
    """Bulk-insert ``rows``; rows whose primary key is already stored change nothing. Returns how many were new."""
    if copy_if_all_new(conn, table, columns, rows, types):
        return len(rows)
    copy_into_stage(conn, table, columns, rows, types)
    return insert_new_from_stage(conn, table, columns)


def copy_if_all_new(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple],
    types: Sequence[str] | None = None,
) -> bool:
    """COPY ``rows`` straight into ``table`` in a savepoint; False, with nothing written, if a key is taken.

    Nearly every batch is new, and this is half the database's work of the staging path: that copies every row
    twice, and its INSERT ... ON CONFLICT checks each row's key by speculative insertion. A batch holding a stored
    key (a redelivery, a minute computed again after a restart) is rolled back to the savepoint, for the
    caller to stage it.
    """
    statements = _statements(table, tuple(columns))
    try:
        with conn.transaction():
            _copy_rows(conn, statements.copy_direct, statements.copy_direct_binary, rows, types)
    except psycopg.errors.UniqueViolation:
        return False
    return True
