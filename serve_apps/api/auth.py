"""Who is calling: the API key in ``Authorization: Bearer ...``, its tenant and role, and its rate limit.

Every failure to authenticate answers the same 401, so a caller learns nothing about which keys
exist. Role checks answer 403; objects of other tenants are never looked up (queries are scoped to
the caller's tenant), so they answer 404 exactly like missing ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetray.storage.api_keys import ApiKey, Role
from serve_apps.api.context import ApiContext, get_context
from serve_apps.api.problems import ApiProblem

_bearer = HTTPBearer(auto_error=False, description="An API key: `fleetray keys create` or POST /v1/keys.")

READ_ROLES = (Role.ADMIN, Role.OPERATOR, Role.PLANNER, Role.VIEWER)
OPERATE_ROLES = (Role.ADMIN, Role.OPERATOR)
PLAN_ROLES = (Role.ADMIN, Role.OPERATOR, Role.PLANNER)
ADMIN_ROLES = (Role.ADMIN,)
DEVICE_ROLES = (Role.DEVICE,)


def unauthorized() -> ApiProblem:
    """The one answer to every authentication failure."""
    return ApiProblem(
        401,
        "Unauthorized",
        "a valid API key is required: send `Authorization: Bearer <key>`",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def verify_token(context: ApiContext, token: str) -> ApiKey:
    """The key a token belongs to.

    Raises:
        ApiProblem: 401 when the token is unknown, wrong, revoked or expired.
    """
    key = context.keys.cached(token)
    if key is None:
        key = await run_in_threadpool(_verify_in_database, context, token)
    if key is None:
        raise unauthorized()
    return key


def _verify_in_database(context: ApiContext, token: str) -> ApiKey | None:
    with context.connection() as conn:
        return context.keys.verify(conn, token)


def enforce_rate_limit(context: ApiContext, key: ApiKey) -> None:
    """Count a request against the key's rate limit.

    Raises:
        ApiProblem: 429 with Retry-After once the key is over its limit.
    """
    wait_s = context.limiter.hit(key.key_id)
    if wait_s is not None:
        raise ApiProblem(
            429,
            "Too many requests",
            f"this API key is over its rate limit ({context.settings.api_rate_limit}); retry in {wait_s:.0f} s",
            headers={"Retry-After": f"{wait_s:.0f}"},
        )


def require(*roles: Role) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency giving the caller's key, if its role is one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(role.value for role in roles)

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        context: Annotated[ApiContext, Depends(get_context)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorized()
        key = await verify_token(context, credentials.credentials)
        request.state.key_id = key.key_id  # for the access log
        enforce_rate_limit(context, key)
        if key.role not in allowed:
            if key.role is Role.DEVICE:
                detail = "device keys reach only the /v1/device routes"
            else:
                detail = f"this needs a key with role {names}; this key's role is {key.role.value}"
            raise ApiProblem(403, "Forbidden", detail)
        return key

    return caller


reader = require(*READ_ROLES)
operator = require(*OPERATE_ROLES)
admin = require(*ADMIN_ROLES)
device = require(*DEVICE_ROLES)

Reader = Annotated[ApiKey, Depends(reader)]
Operator = Annotated[ApiKey, Depends(operator)]
Admin = Annotated[ApiKey, Depends(admin)]
Planner = Annotated[ApiKey, Depends(require(*PLAN_ROLES))]
Device = Annotated[ApiKey, Depends(device)]
