"""A tenant's alert rules (admins change them): the thresholds behind every alert, tenant-wide or per robot
model, applied by the running shards at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.alerts import AlertPolicy
from fleetray.storage.alert_policies import ALL_MODELS, delete_policy, list_policies, put_policy
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, FieldProblem, problem_responses

router = APIRouter(prefix="/v1", tags=["alerts"], responses=problem_responses(400, 401, 403, 422, 429))
ModelName = Annotated[str, Field(min_length=1, max_length=100, description="A robot model, or `*` for all.")]


class AlertRulesUpdate(BaseModel):
    """Thresholds for the robots of one model (``*``: every robot without rules of its own model)."""

    model_config = ConfigDict(extra="forbid")
    model: ModelName = ALL_MODELS
    overrides: dict[str, float | int] = Field(description="Thresholds that differ from the defaults, by name.")


class AlertRules(AlertRulesUpdate):
    effective: dict[str, Any] = Field(description="Every threshold in force.")
    updated_at: datetime | None = None


class AlertRulesPage(BaseModel):
    defaults: dict[str, Any]
    descriptions: dict[str, str]
    items: list[AlertRules]


def _effective(overrides: dict[str, Any]) -> AlertPolicy:
    try:
        return AlertPolicy(**overrides)
    except ValidationError as err:
        errors = [
            FieldProblem(field=".".join(["body", "overrides", *map(str, e["loc"])]), message=e["msg"])
            for e in err.errors(include_url=False)
        ]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ApiProblem(422, "Invalid request", detail, errors=errors) from None


@router.get("/alert-rules", response_model=AlertRulesPage, summary="The tenant's alert thresholds")
def read_rules(key: auth.Reader, context: Context) -> AlertRulesPage:
    with context.connection() as conn:
        rows = list_policies(conn, key.tenant_id)
    return AlertRulesPage(
        defaults=AlertPolicy().model_dump(),
        descriptions={name: field.description or "" for name, field in AlertPolicy.model_fields.items()},
        items=[AlertRules(**row, effective=_effective(row["overrides"]).model_dump()) for row in rows],
    )


@router.put(
    "/alert-rules",
    response_model=AlertRules,
    summary="Set the thresholds of a robot model, or of all (admins); the running shards apply them at once",
)
async def write_rules(key: auth.Admin, context: Context, rules: AlertRulesUpdate) -> AlertRules:
    effective = _effective(rules.overrides)
    with context.connection() as conn:
        row = put_policy(conn, key.tenant_id, rules.model, rules.overrides)
    for shard in await context.live.shards():
        await shard.reload_policies.remote()
    return AlertRules(**row, effective=effective.model_dump())


@router.delete(
    "/alert-rules",
    status_code=204,
    summary="Back to the defaults for a robot model, or for all (admins); done whether it had rules or not",
)
async def reset_rules(
    key: auth.Admin, context: Context, model: Annotated[str, Query(min_length=1, max_length=100)] = ALL_MODELS
) -> Response:
    with context.connection() as conn:
        delete_policy(conn, key.tenant_id, model)
    for shard in await context.live.shards():
        await shard.reload_policies.remote()
    return Response(status_code=204)
