"""Idempotent bulk insert: COPY into a temporary staging table, then INSERT ... ON CONFLICT."""

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
    insert_new: bytes


@functools.cache
def _statements(table: str, columns: tuple[str, ...]) -> _Statements:
    """The SQL of staging and inserting ``columns`` of ``table``, composed once: a shard stages a batch several
    times a second, and composing the identifiers anew each time cost more than sending the statements."""
    stage = sql.Identifier(f"{table}_stage")
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    create = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(stage, column_list)
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING")
    return _Statements(
        create.format(stage, sql.Identifier(table)).as_string().encode(),
        copy.as_string().encode(),
        (copy + sql.SQL(" (FORMAT BINARY)")).as_string().encode(),
        insert.format(sql.Identifier(table), column_list, column_list, stage).as_string().encode(),
    )


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
    cursor = conn.cursor()
    if types is not None:
        cursor.adapters.register_dumper(_JsonText, _JsonTextBinaryDumper)  # by oid too, so set_types picks it
    with cursor.copy(statements.copy if types is None else statements.copy_binary) as copy:
        if types is not None:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    return f"{table}_stage"


def insert_new_from_stage(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> int:
    """Move the staged rows into ``table``, skipping rows whose key exists; return how many were new."""
    return conn.execute(_statements(table, tuple(columns)).insert_new).rowcount


def copy_idempotent(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple],
    types: Sequence[str] | None = None,
) -> int:
    """Bulk-insert ``rows``; rows whose primary key is already stored change nothing."""
    copy_into_stage(conn, table, columns, rows, types)
    return insert_new_from_stage(conn, table, columns)
