"""Keyset pagination: a listing sorted by one column and the table's key, continued by an opaque cursor.

A cursor carries the sort key of the last row served, so page N+1 costs an index seek rather than
an OFFSET scan, and rows inserted meanwhile neither repeat nor go missing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from fleetray.errors import FleetrayError

MAX_PAGE_SIZE = 1000


class PagingError(FleetrayError, ValueError):
    """A sort or cursor parameter is invalid; the message names it and what is accepted."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


@dataclass(frozen=True)
class Listing:
    """How a table is listed: its columns, the filters and sort orders it accepts.

    Args:
        table: the table (or a view) in fleetray's schema.
        columns: the columns served, in order.
        key: columns that make a row unique within a tenant; they break ties in every sort.
        sortable: columns a caller may sort by (never NULL, so keyset comparisons hold).
        default_sort: e.g. ``"-raised_at"``; a leading ``-`` sorts descending.
        filters: query parameter -> column for equality filters.
        time_column: the column ``start``/``end`` bound, if any.
        casts: SQL types of the sortable and key columns that are not text (to read cursors back).
    """

    table: str
    columns: Sequence[str]
    key: Sequence[str]
    sortable: Sequence[str]
    default_sort: str
    filters: dict[str, str] = field(default_factory=dict)
    time_column: str | None = None
    casts: dict[str, str] = field(default_factory=dict)

    def parse_sort(self, sort: str | None) -> tuple[str, bool]:
        """``(column, descending)`` of a sort parameter.

        Raises:
            PagingError: the column is not sortable.
        """
        text = sort or self.default_sort
        descending = text.startswith("-")
        column = text.removeprefix("-")
        if column not in self.sortable:
            choices = ", ".join(f"{name} or -{name}" for name in self.sortable)
            raise PagingError("sort", f"sort {text!r} is not supported here; use one of: {choices}")
        return column, descending


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursor of the next one (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    """An opaque cursor continuing after the row whose sort key is ``values``."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps({"s": sort, "k": plain}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, width: int) -> list[Any]:
    """The sort key values a cursor carries.

    Raises:
        PagingError: the cursor was not issued for this sort, or is malformed.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        values = decoded["k"]
        ok = decoded["s"] == sort and isinstance(values, list) and len(values) == width
    except (binascii.Error, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise PagingError("cursor", "cursor is not one this listing issued with this sort; start again without it")
    if any(isinstance(value, (dict, list)) for value in values):
        raise PagingError("cursor", "cursor is malformed; start again without it")
    return values


def list_page(
    conn: psycopg.Connection,
    listing: Listing,
    tenant_id: str,
    *,
    filters: dict[str, Any] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    sort: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """A page of ``listing`` for one tenant; ``filters`` maps the listing's filter names to values (None: any).

    Raises:
        PagingError: unknown sort, a cursor from another listing or sort, or a limit out of range.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise PagingError("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    column, descending = listing.parse_sort(sort)
    order_columns = [column, *[k for k in listing.key if k != column]]
    conditions = [sql.SQL("tenant_id = %s")]
    params: list[Any] = [tenant_id]
    for name, value in (filters or {}).items():
        if value is None:
            continue
        operator = "= ANY(%s)" if isinstance(value, list) else "= %s"
        conditions.append(sql.SQL("{} " + operator).format(sql.Identifier(listing.filters[name])))
        params.append(value)
    if listing.time_column is not None:
        for bound, operator in ((start, ">="), (end, "<")):
            if bound is not None:
                conditions.append(sql.SQL("{} " + operator + " %s").format(sql.Identifier(listing.time_column)))
                params.append(bound)
    sort_text = f"-{column}" if descending else column
    if cursor:
        values = decode_cursor(cursor, sort_text, len(order_columns))
        placeholders = sql.SQL(", ").join(
            sql.SQL("%s::{}").format(sql.SQL(listing.casts.get(name, "text"))) for name in order_columns
        )
        conditions.append(
            sql.SQL("({}) {} ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, order_columns)),
                sql.SQL("<" if descending else ">"),
                placeholders,
            )
        )
        params += values
    direction = sql.SQL(" DESC" if descending else "")
    query = sql.SQL("SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, dict.fromkeys([*listing.columns, *order_columns]))),
        table=sql.Identifier(listing.table),
        where=sql.SQL(" AND ").join(conditions),
        order=sql.SQL(", ").join(sql.Identifier(name) + direction for name in order_columns),
    )
    params.append(limit + 1)
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, params).fetchall()
    except psycopg.errors.DataError as err:  # a cursor value that does not cast back
        raise PagingError("cursor", "cursor is malformed; start again without it") from err
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(sort_text, [rows[-1][name] for name in order_columns])
    served = set(listing.columns)
    return Page([{k: v for k, v in row.items() if k in served} for row in rows], next_cursor)
