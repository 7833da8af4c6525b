"""A robot's telemetry history at three resolutions: raw samples, minutes and hours, paged by cursor.

Minutes are the shards' stored windows (``telemetry_1m``, with the statistics of
``fleetray.features.windows``; NULL where a rollup could not compute them); hours are merged from them on
the fly, so an hour's mean weighs each minute by its sample count and its ``last`` is the last minute's.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.storage.paging import Listing, Page, PagingError, decode_cursor, encode_cursor, list_page
from fleetray.storage.telemetry import MINUTE_COLUMNS, TELEMETRY_COLUMNS


class Resolution(StrEnum):
    """How finely history is served."""

    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"


RAW = Listing(
    table="telemetry",
    columns=tuple(name for name in TELEMETRY_COLUMNS if name != "tenant_id"),
    key=("robot_id", "seq"),
    sortable=("ts",),
    default_sort="ts",
    filters={"robot_id": "robot_id"},
    time_column="ts",
    casts={"ts": "timestamptz", "seq": "bigint"},
)

MINUTES = Listing(
    table="telemetry_1m",
    columns=MINUTE_COLUMNS[2:],  # all but the tenant and robot, which the listing filters on
    key=("robot_id", "metric"),
    sortable=("bucket",),
    default_sort="bucket",
    filters={"robot_id": "robot_id", "metric": "metric"},
    time_column="bucket",
    casts={"bucket": "timestamptz"},
)


def history_page(
    conn: psycopg.Connection,
    tenant_id: str,
    robot_id: str,
    *,
    resolution: Resolution,
    start: datetime,
    end: datetime,
    metrics: list[str] | None = None,
    cursor: str | None = None,
    limit: int = 1000,
    max_limit: int = 1000,
) -> Page:
    """One page of a robot's history in ``[start, end)``, oldest first.

    ``metrics`` (e.g. ``battery.soc``, ``components.main_brush.current_a``) selects rollup series;
    raw samples always carry every field.

    Raises:
        PagingError: a bad cursor or limit.
    """
    if not 1 <= limit <= max_limit:
        raise PagingError("limit", f"limit must be between 1 and {max_limit}, got {limit}")
    if resolution is Resolution.RAW:
        return _page_of(conn, RAW, tenant_id, {"robot_id": robot_id}, start, end, cursor, limit)
    if resolution is Resolution.MINUTE:
        return _page_of(conn, MINUTES, tenant_id, {"robot_id": robot_id, "metric": metrics}, start, end, cursor, limit)
    return _hours(conn, tenant_id, robot_id, start, end, metrics, cursor, limit)


def _page_of(
    conn: psycopg.Connection,
    listing: Listing,
    tenant_id: str,
    filters: dict[str, Any],
    start: datetime,
    end: datetime,
    cursor: str | None,
    limit: int,
) -> Page:
    # list_page caps ordinary listings at 1,000 rows; downloads ask for more, page by page of that size.
    items: list[dict[str, Any]] = []
    next_cursor = cursor
    while True:
        page = list_page(
            conn,
            listing,
            tenant_id,
            filters=filters,
            start=start,
            end=end,
            cursor=next_cursor,
            limit=min(1000, limit - len(items)),
        )
        items += page.items
        next_cursor = page.next_cursor
        if next_cursor is None or len(items) >= limit:
            return Page(items, next_cursor)


def _hours(
    conn: psycopg.Connection,
    tenant_id: str,
    robot_id: str,
    start: datetime,
    end: datetime,
    metrics: list[str] | None,
    cursor: str | None,
    limit: int,
) -> Page:
    after: list[Any] = [None, None]
    if cursor:
        after = decode_cursor(cursor, "hour", 2)
    with conn.cursor(row_factory=dict_row) as cur:
        try:
            rows = cur.execute(
                """
                SELECT * FROM (
                    SELECT date_trunc('hour', bucket) AS bucket, metric, sum(n)::integer AS n,
                           sum(n * mean) / sum(n) AS mean, min(min) AS min, max(max) AS max,
                           (array_agg(last ORDER BY bucket DESC))[1] AS last
                    FROM telemetry_1m
                    WHERE tenant_id = %(tenant)s AND robot_id = %(robot)s
                      AND bucket >= date_trunc('hour', %(start)s::timestamptz) AND bucket < %(end)s
                      AND (%(metrics)s::text[] IS NULL OR metric = ANY(%(metrics)s::text[]))
                    GROUP BY 1, 2
                ) hours
                WHERE %(after_bucket)s::timestamptz IS NULL OR (bucket, metric) > (%(after_bucket)s, %(after_metric)s)
                ORDER BY bucket, metric LIMIT %(limit)s
                """,
                {
                    "tenant": tenant_id,
                    "robot": robot_id,
                    "start": start,
                    "end": end,
                    "metrics": metrics,
                    "after_bucket": after[0],
                    "after_metric": after[1],
                    "limit": limit + 1,
                },
            ).fetchall()
        except psycopg.errors.DataError as err:
            raise PagingError("cursor", "cursor is malformed; start again without it") from err
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("hour", [rows[-1]["bucket"], rows[-1]["metric"]])
    return Page(rows, next_cursor)
