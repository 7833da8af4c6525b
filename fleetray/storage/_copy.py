"""Idempotent bulk insert: COPY into a temporary staging table, then INSERT ... ON CONFLICT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from psycopg import sql


def copy_into_stage(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> str:
    """COPY ``rows`` into a session-private staging copy of ``table``; return the stage's name.

    The stage is emptied at commit, so it is reused batch after batch without DDL.
    """
    stage = f"{table}_stage"
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
            sql.Identifier(stage), sql.Identifier(table)
        )
    )
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(stage), column_list)
    with conn.cursor().copy(copy_statement) as copy:
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


def copy_idempotent(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Bulk-insert ``rows``; rows whose primary key is already stored change nothing."""
    copy_into_stage(conn, table, columns, rows)
    return insert_new_from_stage(conn, table, columns)
