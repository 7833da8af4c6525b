"""``/v1/stream``: a WebSocket feed of the caller's fleet (state updates and alerts).

The protocol, one JSON object per frame:

1. Authenticate: send ``Authorization: Bearer <key>`` with the upgrade request, or as the first
   frame ``{"type": "auth", "token": "<key>"}`` within 10 s (browsers cannot set headers).
   The server answers ``{"type": "welcome", ...}``; a bad key closes the socket with code 4401.
2. Optionally narrow the feed: ``{"type": "subscribe", "kinds": ["state", "alert"], "robots": [...],
   "sites": [...], "alert_rules": [...]}``; each subscribe replaces the last. The default is everything.
   With ``"batch": true`` the items come grouped, ``{"type": "batch", "items": [...]}`` (each item as it
   would come alone): a client following thousands of robots handles a few frames a second, not thousands.
3. Receive ``{"type": "state", ...}`` and ``{"type": "alert", ...}`` frames. A consumer that reads
   too slowly gets each robot's latest state (a newer one replaces an older one while it lags) and loses
   its oldest alerts (the hub's queue per subscriber is bounded), and is told so with
   ``{"type": "dropped", "count": n}``: a slow client never slows the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from fleetray.schemas.messages import ROBOT_ID_PATTERN
from fleetray.storage.api_keys import ApiKey, Role
from serve_apps.api.auth import verify_token
from serve_apps.api.problems import ApiProblem

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["stream"])

AUTH_TIMEOUT_S = 10.0
POLL_S = 1.0
BATCH = 1000
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNAVAILABLE = 1013  # "try again later"


RobotOrSiteId = Annotated[str, StringConstraints(pattern=ROBOT_ID_PATTERN)]


class Subscribe(BaseModel):
    """What a client wants from the feed."""

    type: Literal["subscribe"]
    kinds: list[Literal["state", "alert"]] | None = Field(default=None, max_length=2)
    robots: list[RobotOrSiteId] | None = Field(default=None, max_length=10_000)
    sites: list[RobotOrSiteId] | None = Field(default=None, max_length=1000)
    alert_rules: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(default=None, max_length=100)
    batch: bool = False


async def _authenticate(websocket: WebSocket) -> ApiKey | None:
    context = websocket.app.state.context
    header = websocket.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    await websocket.accept()
    try:
        if token is None:
            first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
            token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        if not isinstance(token, str):
            raise ApiProblem(401, "Unauthorized", "no key")
        key = await verify_token(context, token)
    except (ApiProblem, TimeoutError, ValueError):
        await _close(websocket, CLOSE_UNAUTHORIZED, "a valid API key is required")
        return None
    if key.role is Role.DEVICE:
        await _close(websocket, CLOSE_FORBIDDEN, "device keys reach only the /v1/device routes")
        return None
    return key


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_json({"type": "error", "detail": reason})
        await websocket.close(code=code, reason=reason)


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    key = await _authenticate(websocket)
    if key is None:
        return
    try:
        import ray

        from actors.hub import get_hub

        if not ray.is_initialized():
            raise RuntimeError("no Ray")
        hub = get_hub()
    except Exception:
        await _close(websocket, CLOSE_UNAVAILABLE, "the live feed is not running here; start `fleetray up`")
        return
    subscriber = f"ws-{uuid.uuid4().hex}"
    await hub.subscribe.remote(subscriber, key.tenant_id)
    await websocket.send_json(
        {
            "type": "welcome",
            "tenant_id": key.tenant_id,
            "role": key.role.value,
            "subscription": {"kinds": ["state", "alert"]},
        }
    )
    grouping = {"batch": False}  # what the last subscribe frame asked for; read by the sender
    sender = asyncio.create_task(_forward(websocket, hub, subscriber, grouping))
    try:
        while True:
            text = await websocket.receive_text()
            try:
                request = Subscribe.model_validate_json(text)
            except ValidationError as err:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'frame'}: {e['msg']}" for e in err.errors())
                await websocket.send_json({"type": "error", "detail": f"not a subscribe frame: {problems}"})
                continue
            await hub.subscribe.remote(
                subscriber, key.tenant_id, request.kinds, request.robots, request.sites, request.alert_rules
            )
            grouping["batch"] = request.batch
            await websocket.send_json({"type": "subscribed", "subscription": request.model_dump(exclude={"type"})})
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await hub.unsubscribe.remote(subscriber)


async def _forward(websocket: WebSocket, hub: Any, subscriber: str, grouping: dict[str, bool]) -> None:
    """Move items from the hub to the socket; awaiting each send is what bounds a slow client's backlog."""
    while True:
        taken = await hub.poll.remote(subscriber, BATCH, POLL_S)
        if taken["dropped"]:
            await websocket.send_json({"type": "dropped", "count": taken["dropped"]})
        frames = [{"type": item.get("kind", "item"), **item} for item in taken["items"]]
        if grouping["batch"] and frames:
            await websocket.send_json({"type": "batch", "items": frames})
            continue
        for frame in frames:
            await websocket.send_json(frame)
