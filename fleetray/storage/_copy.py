"""Idempotent bulk insert: COPY into a temporary staging table, then INSERT ... ON CONFLICT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    stage = f"{table}_stage"
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
            sql.Identifier(stage), sql.Identifier(table)
        )
    )
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    binary = sql.SQL(" (FORMAT BINARY)" if types is not None else "")
    copy_statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(sql.Identifier(stage), column_list, binary)
    cursor = conn.cursor()
    if types is not None:
        cursor.adapters.register_dumper(_JsonText, _JsonTextBinaryDumper)  # by oid too, so set_types picks it
    with cursor.copy(copy_statement) as copy:
        if types is not None:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    return stage


def insert_new_from_stage(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> int:
    """Move the staged rows into ``table``, skipping rows whose key exists; return how many were new."""
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    statement = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        sql.Identifier(table), column_list, column_list, sql.Identifier(f"{table}_stage")
    )
    return conn.execute(statement).rowcount


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
