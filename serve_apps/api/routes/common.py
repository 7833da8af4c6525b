"""Query parameters every listing shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Path, Query

from fleetray.schemas.messages import ROBOT_ID_PATTERN
from fleetray.storage.paging import Listing
from serve_apps.api.problems import ApiProblem, FieldProblem

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")]
Start = Annotated[datetime | None, Query(description="From (inclusive), ISO 8601; default: an hour before `end`.")]
End = Annotated[datetime | None, Query(description="To (exclusive), ISO 8601; default: now.")]
RobotIdPath = Annotated[str, Path(pattern=ROBOT_ID_PATTERN, max_length=128)]
RobotIdQuery = Annotated[str | None, Query(pattern=ROBOT_ID_PATTERN, max_length=128)]
SiteIdQuery = Annotated[str | None, Query(pattern=ROBOT_ID_PATTERN, max_length=128)]
Text = Annotated[str | None, Query(min_length=1, max_length=128)]


def sort_of(listing: Listing) -> Any:
    """The ``sort`` query parameter of a listing: its sortable columns, each ascending or descending (``-``)."""
    options = tuple(option for column in listing.sortable for option in (column, f"-{column}"))
    description = f"Order of the items (a leading `-` sorts descending); default `{listing.default_sort}`."
    return Annotated[Literal[options] | None, Query(description=description)]  # type: ignore[valid-type]


def time_range(
    start: datetime | None, end: datetime | None, *, default: timedelta = timedelta(hours=1), required: bool = False
) -> tuple[datetime | None, datetime | None]:
    """``start``/``end`` made timezone-aware (naive means UTC) and checked.

    Raises:
        ApiProblem: 422 when ``end`` is not after ``start``.
    """
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if required:
        end = end or datetime.now(UTC)
        start = start or end - default
    if start is not None and end is not None and end <= start:
        message = f"end {end.isoformat()} must be after start {start.isoformat()}"
        raise ApiProblem(422, "Invalid request", message, errors=[FieldProblem(field="query.end", message=message)])
    return start, end
