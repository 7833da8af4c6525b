"""Finding bags, and reading them: search the index, one bag's details, a download URL per bag."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from fleetray.errors import ObjectStoreError
from fleetray.storage.bags import bag_events, bag_topics, read_bag, search_bags
from serve_apps.api import auth
from serve_apps.api.context import ApiContext, Context
from serve_apps.api.problems import ApiProblem, problem_responses
from serve_apps.api.routes.common import End, RobotIdQuery, Start, time_range

router = APIRouter(tags=["bags"], responses=problem_responses(401, 403, 404, 422, 429))
DOWNLOAD_TTL_S = 900


class Bag(BaseModel):
    bag_id: int
    robot_id: str | None
    uri: str
    format: str | None
    size_bytes: int | None
    status: str = Field(description="pending, processing, done, partial (damaged: read by a scan) or failed.")
    error: str | None
    recovery: list[dict[str, Any]] | None = Field(
        description="For a partial bag, per storage file: what was wrong with its index, and the bytes and "
        "messages lost (null: not known)."
    )
    trigger: str | None
    received_via: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    message_count: int | None
    topics: list[str]
    events: int
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(description="Reads the bag for 15 minutes; none for a rosbag2 directory.")


class BagPage(BaseModel):
    items: list[Bag]


class BagDetail(Bag):
    topic_stats: list[dict[str, Any]]
    warnings_and_errors: list[dict[str, Any]]
    metadata: dict[str, Any]


def _download_url(context: ApiContext, uri: str) -> str | None:
    key = context.store.key_of(uri)
    if key is None or not key.endswith((".bag", ".mcap", ".db3")):
        return None  # a bag outside the store (scanned from a folder), or a rosbag2 directory
    return context.store.download_url(key, expires_s=DOWNLOAD_TTL_S)


def _bag(context: ApiContext, row: dict[str, Any]) -> dict[str, Any]:
    fields = {name: row[name] for name in Bag.model_fields if name != "download_url"}
    return {**fields, "download_url": _download_url(context, row["uri"])}


@router.get("/v1/bags", response_model=BagPage, summary="Search the tenant's bags, newest first")
def list_bags(
    key: auth.Reader,
    context: Context,
    robot_id: RobotIdQuery = None,
    start: Start = None,
    end: End = None,
    topic: Annotated[str | None, Query(max_length=256)] = None,
    msgtype: Annotated[str | None, Query(max_length=256, examples=["sensor_msgs/msg/Imu"])] = None,
    error_code: Annotated[str | None, Query(max_length=64, examples=["E_BRUSH_JAM"])] = None,
    trigger: Annotated[str | None, Query(max_length=64, examples=["error:E_BRUSH_JAM"])] = None,
    status: Literal["pending", "processing", "done", "partial", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> BagPage:
    since, until = time_range(start, end)
    with context.connection() as conn:
        rows = search_bags(
            conn,
            key.tenant_id,
            robot_id=robot_id,
            since=since,
            until=until,
            topic=topic,
            msgtype=msgtype,
            error_code=error_code,
            trigger=trigger,
            status=status,
            limit=limit,
        )
    return BagPage(items=[Bag(**_bag(context, row)) for row in rows])


@router.get("/v1/bags/{bag_id}", response_model=BagDetail, summary="One bag: its topics, warnings and errors")
def get_bag(key: auth.Reader, context: Context, bag_id: Annotated[int, Path(ge=1)]) -> BagDetail:
    with context.connection() as conn:
        row = read_bag(conn, key.tenant_id, bag_id)
        topics = bag_topics(conn, bag_id)
        events = bag_events(conn, bag_id)
    return BagDetail(**_bag(context, row), topic_stats=topics, warnings_and_errors=events, metadata=row["metadata"])


@router.get(
    "/v1/downloads",
    include_in_schema=True,
    responses=problem_responses(403),
    summary="Read a bag from the local store (the URL's signature is its authority)",
)
def download(
    context: Context,
    key: Annotated[str, Query(max_length=1000)],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=200)],
) -> StreamingResponse:
    try:
        context.store.check_download(key, expires=expires, signature=signature)
        stream = context.store.open_read(key)
    except ObjectStoreError as err:
        raise ApiProblem(403, "Forbidden", str(err)) from err
    except FileNotFoundError as err:
        raise ApiProblem(404, "Not found", f"{key!r} is no longer in the store") from err

    def chunks() -> Any:
        with stream:
            while chunk := stream.read(1 << 20):
                yield chunk

    filename = key.rsplit("/", 1)[-1]
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
