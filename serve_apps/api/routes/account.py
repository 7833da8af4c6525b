"""The caller's own identity, and the tenant's API keys (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from fleetray.storage.api_keys import Role, create_key, revoke_key
from fleetray.storage.listings import API_KEYS
from fleetray.storage.paging import list_page
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.models import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage, Whoami
from serve_apps.api.problems import not_found, problem_responses
from serve_apps.api.routes.common import Cursor, Limit, RobotIdQuery, sort_of

router = APIRouter(prefix="/v1", tags=["account"], responses=problem_responses(400, 401, 403, 422, 429))
ApiKeysSort = sort_of(API_KEYS)
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


@router.get("/me", response_model=Whoami, summary="The calling key's tenant and role")
def whoami(key: auth.Reader) -> Whoami:
    return Whoami(tenant_id=key.tenant_id, key_id=key.key_id, role=key.role, robot_id=key.robot_id)


@router.get("/keys", response_model=ApiKeyPage, summary="The tenant's API keys (never their secrets)")
def list_api_keys(
    key: auth.Admin,
    context: Context,
    role: Role | None = None,
    robot_id: RobotIdQuery = None,
    sort: ApiKeysSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ApiKeyPage:
    with context.connection() as conn:
        page = list_page(
            conn,
            API_KEYS,
            key.tenant_id,
            filters={"role": role.value if role else None, "robot_id": robot_id},
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return ApiKeyPage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/keys",
    response_model=ApiKeyCreated,
    status_code=201,
    responses=problem_responses(404),
    summary="Issue a key; its token is shown once",
)
def create_api_key(key: auth.Admin, context: Context, body: ApiKeyCreate) -> ApiKeyCreated:
    with context.connection() as conn:
        issued = create_key(
            conn,
            key.tenant_id,
            body.role,
            robot_id=body.robot_id,
            description=body.description,
            expires_at=body.expires_at,
        )
    return ApiKeyCreated(key=ApiKeyOut.model_validate(issued.key, from_attributes=True), token=issued.token)


@router.delete("/keys/{key_id}", status_code=204, responses=problem_responses(404), summary="Revoke a key")
def revoke_api_key(key: auth.Admin, context: Context, key_id: KeyIdPath) -> Response:
    with context.connection() as conn:
        revoked = revoke_key(conn, key.tenant_id, key_id)
    if not revoked:
        raise not_found(f"active key {key_id!r}")
    context.keys.forget(key_id)
    return Response(status_code=204)
