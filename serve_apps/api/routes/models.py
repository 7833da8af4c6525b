"""Models and their predictions: the registry a tenant sees, promotion and rollback, RUL and failure risk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from fleetray.storage import models as model_rows
from fleetray.storage.fleet import get_robot
from pipelines.training.maintenance import Recommendation, recommend, schedule_fields
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.problems import ApiProblem, problem_responses

router = APIRouter(prefix="/v1", tags=["models"], responses=problem_responses(400, 401, 403, 404, 409, 422, 429))

ModelId = Annotated[int, Path(ge=1, description="The model version's id.")]


class ModelVersion(BaseModel):
    """One registered model version."""

    model_id: int
    name: str
    version: int
    scope: str = Field(description="`fleet` for a fleet-wide model, else the tenant that owns it")
    kind: str
    task: str
    stage: Literal["none", "staging", "production", "archived"]
    components: list[str]
    feature_version: str
    data_hash: str
    code_version: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    created_by: str
    created_at: datetime


class ModelList(BaseModel):
    items: list[ModelVersion]


class StageChange(BaseModel):
    """Move a version to a stage; promoting to production archives the version it replaces."""

    stage: Literal["staging", "production", "archived"] = "production"
    reason: str = Field(default="", max_length=500)


def _version(row: dict[str, Any]) -> ModelVersion:
    return ModelVersion(**{**row, "scope": row["tenant_id"] or "fleet"})


@router.get("/models", response_model=ModelList, summary="Model versions this tenant's own and the fleet-wide ones")
def list_models(
    key: auth.Reader,
    context: Context,
    name: str | None = None,
    stage: Literal["none", "staging", "production", "archived"] | None = None,
    task: Literal["failure", "rul", "anomaly"] | None = None,
) -> ModelList:
    with context.connection() as conn:
        rows = model_rows.list_models(conn, tenant_id=key.tenant_id, name=name, stage=stage, task=task)
    return ModelList(items=[_version(row) for row in rows])


@router.get("/models/{model_id}", response_model=ModelVersion, summary="One model version")
def get_model(model_id: ModelId, key: auth.Reader, context: Context) -> ModelVersion:
    with context.connection() as conn:
        return _version(model_rows.get_model(conn, model_id, tenant_id=key.tenant_id))


def _own(conn: Any, model_id: int, tenant_id: str) -> dict[str, Any]:
    row = model_rows.get_model(conn, model_id, tenant_id=tenant_id)
    if row["tenant_id"] is None:
        raise ApiProblem(
            403,
            "Forbidden",
            f"model {model_id} is fleet-wide: its stage is the platform operator's to change "
            "(`fleetray models promote`); register a model for this tenant to promote it here",
        )
    return row


@router.post("/models/{model_id}:promote", response_model=ModelVersion, summary="Move a version to a stage")
def promote(model_id: ModelId, change: StageChange, key: auth.Admin, context: Context) -> ModelVersion:
    with context.connection() as conn, conn.transaction():
        _own(conn, model_id, key.tenant_id)
        row = model_rows.set_stage(conn, model_id, change.stage, changed_by=f"key:{key.key_id}", reason=change.reason)
    return _version(row)


@router.post(
    "/models/{model_id}:rollback",
    response_model=ModelVersion,
    summary="Put back in production the version before this model's current production version",
)
def rollback(model_id: ModelId, key: auth.Admin, context: Context) -> ModelVersion:
    with context.connection() as conn, conn.transaction():
        row = _own(conn, model_id, key.tenant_id)
        restored = model_rows.rollback(conn, row["name"], key.tenant_id, changed_by=f"key:{key.key_id}")
    return _version(restored)


class ComponentPrediction(BaseModel):
    failure_probability: float | None = None
    failure_predicted: bool | None = None
    horizon_h: float | None = None
    rul_h: float | None = None
    reasons: list[dict[str, Any]] = Field(default_factory=list)


class RobotPrediction(BaseModel):
    """A robot's risk (the highest failure probability of its components) and each component's figures."""

    robot_id: str
    risk: float | None
    components: dict[str, ComponentPrediction]
    models: dict[str, dict[str, Any] | None]
    scored_at: str | None = None
    note: str | None = None


class FleetPredictions(BaseModel):
    items: list[RobotPrediction]


@router.get(
    "/robots/{robot_id}/predictions",
    response_model=RobotPrediction,
    summary="Remaining useful life and failure risk per component, with the features that drive them",
)
async def robot_predictions(
    robot_id: Annotated[str, Path(max_length=64)], key: auth.Reader, context: Context
) -> RobotPrediction:
    def known() -> None:
        with context.connection() as conn:
            get_robot(conn, key.tenant_id, robot_id)

    await run_in_threadpool(known)
    answer = await context.robot_predictions(key.tenant_id, robot_id)
    if answer is None:
        raise ApiProblem(404, "Not found", f"robot {robot_id!r} not found", kind="not-found")
    return RobotPrediction.model_validate(answer)


@router.get(
    "/fleet/predictions",
    response_model=FleetPredictions,
    summary="Every robot's failure risk and RUL, riskiest first by default",
)
async def fleet_predictions(
    key: auth.Reader,
    context: Context,
    sort: Literal["risk", "-risk", "robot_id", "-robot_id"] = "-risk",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    min_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> FleetPredictions:
    answers = await context.fleet_predictions(key.tenant_id)
    if min_risk is not None:
        answers = [a for a in answers if a["risk"] is not None and a["risk"] >= min_risk]
    column = sort.lstrip("-")
    present = sorted((a for a in answers if a[column] is not None), key=lambda a: a[column], reverse=sort[0] == "-")
    answers = present + [a for a in answers if a[column] is None]  # unscored robots last, either way
    return FleetPredictions(items=[RobotPrediction.model_validate(a) for a in answers[:limit]])


class ScheduleHints(BaseModel):
    """What a schedule request's robot takes from the predictions (``ScheduleRobot`` fields)."""

    failure_risk: float
    maintenance: list[dict[str, int]] = Field(description="windows in seconds from `plan_start`")


class MaintenanceRecommendations(BaseModel):
    generated_at: datetime
    plan_start: datetime
    items: list[Recommendation]
    schedule: dict[str, ScheduleHints] = Field(description="per robot, fields to merge into a schedule request")


@router.get(
    "/maintenance/recommendations",
    response_model=MaintenanceRecommendations,
    summary="What to service, by when: components predicted to fail or to run out of life, soonest first",
)
async def maintenance_recommendations(
    key: auth.Reader,
    context: Context,
    within_h: Annotated[float, Query(gt=0, le=24 * 90, description="Due within this many hours.")] = 168.0,
    service_h: Annotated[float, Query(gt=0, le=48, description="How long a service takes.")] = 1.0,
    plan_start: Annotated[datetime | None, Query(description="Start of the schedule the windows are for.")] = None,
) -> MaintenanceRecommendations:
    now = datetime.now(UTC)
    start = now if plan_start is None else plan_start if plan_start.tzinfo else plan_start.replace(tzinfo=UTC)
    predictions = await context.fleet_predictions(key.tenant_id)
    found = recommend(predictions, now=now, within_h=within_h, service_h=service_h)
    return MaintenanceRecommendations(
        generated_at=now,
        plan_start=start,
        items=found,
        schedule=schedule_fields(found, predictions, plan_start=start),
    )


class DiagnosticFeature(BaseModel):
    feature: str
    importance: float
    pre_error_mean: float | None
    normal_mean: float | None
    shift_sd: float | None = Field(description="the pre-error level against normal, in normal's standard deviations")
    outside_normal_before_error_h: float | None = Field(description="median time the feature was out of range")
    occurrences_outside_normal: int


class Diagnostic(BaseModel):
    """What changed before an error code: features ranked by how much they set the pre-error minutes apart."""

    error_code: str
    days: float
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    robots: list[str]
    models: list[str]
    compared: dict[str, float]
    features: list[DiagnosticFeature]
    bags: list[dict[str, Any]]


@router.get(
    "/diagnostics/{error_code}",
    response_model=Diagnostic,
    summary="Root cause of an error code: what differed from normal operation before it, since when, bags around it",
)
async def diagnostics(
    error_code: Annotated[str, Path(min_length=1, max_length=100)],
    key: auth.Reader,
    context: Context,
    days: Annotated[float, Query(gt=0, le=365)] = 30.0,
    before_h: Annotated[float, Query(gt=0, le=168, description="How long before each error counts.")] = 6.0,
) -> Diagnostic:
    from pipelines.training.rootcause import diagnose

    report = await run_in_threadpool(diagnose, context.db, key.tenant_id, error_code, days=days, before_h=before_h)
    return Diagnostic.model_validate(report)
