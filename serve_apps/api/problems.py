"""Errors as RFC 9457 problem details (``application/problem+json``), with a message a user can act on."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetray.errors import (
    ConfigError,
    ConflictError,
    DatabaseUnreachableError,
    FeatureVersionError,
    NotFoundError,
    RegistryError,
    ServiceError,
    TrainingDataError,
)
from fleetray.storage.paging import PagingError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://fleetray.dev/problems/"


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Where: e.g. `body.robots[0].serial` or `query.limit`.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What went wrong for this request, and what to do about it.")
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ApiProblem(Exception):
    """An error answered as a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers


def not_found(what: str) -> ApiProblem:
    """404 for a missing object and for another tenant's object alike."""
    return ApiProblem(404, "Not found", f"{what} not found", kind="not-found")


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    """The problem document for ``problem``."""
    body = Problem(
        type=TYPE_BASE + problem.kind,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        errors=problem.errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _where(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, as a problem document."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_where(e["loc"]), message=e["msg"]) for e in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return problem_response(request, ApiProblem(422, "Invalid request", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        title = titles.get(exc.status_code, "Request refused")
        detail = str(exc.detail) if exc.status_code != 404 else f"no route {request.url.path}; see /docs"
        return problem_response(
            request, ApiProblem(exc.status_code, title, detail, headers=getattr(exc, "headers", None))
        )

    @app.exception_handler(NotFoundError)
    async def _missing(request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(request, ApiProblem(404, "Not found", str(exc), kind="not-found"))

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return problem_response(request, ApiProblem(409, "Conflict", str(exc)))

    @app.exception_handler(RegistryError)
    @app.exception_handler(FeatureVersionError)
    async def _model_state(request: Request, exc: RegistryError | FeatureVersionError) -> JSONResponse:
        return problem_response(request, ApiProblem(409, "Conflict", str(exc)))

    @app.exception_handler(TrainingDataError)
    async def _too_little_data(request: Request, exc: TrainingDataError) -> JSONResponse:
        return problem_response(request, ApiProblem(409, "Conflict", str(exc)))

    @app.exception_handler(PagingError)
    async def _paging(request: Request, exc: PagingError) -> JSONResponse:
        errors = [FieldProblem(field=f"query.{exc.parameter}", message=str(exc))]
        return problem_response(request, ApiProblem(400, "Bad request", str(exc), errors=errors))

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        return problem_response(request, ApiProblem(400, "Bad request", str(exc)))

    @app.exception_handler(DatabaseUnreachableError)
    async def _database(request: Request, exc: DatabaseUnreachableError) -> JSONResponse:
        logger.error("database unreachable: %s", exc)
        return problem_response(
            request,
            ApiProblem(
                503, "Service unavailable", "the database is unreachable; retry shortly", headers={"Retry-After": "5"}
            ),
        )

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def _too_slow(request: Request, exc: psycopg.errors.QueryCanceled) -> JSONResponse:
        return problem_response(
            request,
            ApiProblem(
                504, "Timeout", "the query took too long; narrow it (a shorter time range, a smaller limit) or retry"
            ),
        )

    @app.exception_handler(psycopg.DataError)
    async def _unstorable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Values the schema allows but PostgreSQL cannot take (a NUL in a query parameter, a date out of range).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return problem_response(
            request, ApiProblem(422, "Invalid request", f"a value cannot be stored or compared: {reason}")
        )

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(
            request, ApiProblem(503, "Service unavailable", str(exc), headers={"Retry-After": "10"})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, ApiProblem(500, "Internal error", "the platform failed on this request; it is logged")
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting problem answers with these statuses."""
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid API key",
        403: "The key's role may not do this",
        404: "Not found (or another tenant's)",
        409: "Conflict",
        413: "Request body too large",
        422: "Invalid request",
        429: "Rate limited; see Retry-After",
        503: "Service unavailable",
    }
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": descriptions[status], "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}
        for status in statuses
    }
