"""Sites and robots: listing, registering, and robots' MQTT credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from fleetray.inventory import RobotRecord, SiteRecord
from fleetray.schemas.messages import ROBOT_ID_PATTERN
from fleetray.storage.credentials import issue_mqtt_credential
from fleetray.storage.fleet import create_site, get_robot, get_site, register_robot
from fleetray.storage.listings import ROBOTS, SITES
from fleetray.storage.paging import list_page
from serve_apps.api import auth
from serve_apps.api.context import Context
from serve_apps.api.models import (
    MqttCredentialOut,
    Robot,
    RobotCreate,
    RobotPage,
    RobotRegistered,
    Site,
    SiteCreate,
    SitePage,
)
from serve_apps.api.problems import problem_responses
from serve_apps.api.routes.common import Cursor, Limit, RobotIdPath, SiteIdQuery, Text, sort_of

router = APIRouter(prefix="/v1", tags=["fleet"], responses=problem_responses(400, 401, 403, 422, 429))
RobotsSort = sort_of(ROBOTS)
SitesSort = sort_of(SITES)
SiteIdPath = Annotated[str, Path(pattern=ROBOT_ID_PATTERN, max_length=128)]


@router.get("/sites", response_model=SitePage, summary="The tenant's sites")
def list_sites(
    key: auth.Reader, context: Context, sort: SitesSort = None, cursor: Cursor = None, limit: Limit = 100
) -> SitePage:
    with context.connection() as conn:
        page = list_page(conn, SITES, key.tenant_id, sort=sort, cursor=cursor, limit=limit)
    return SitePage(items=page.items, next_cursor=page.next_cursor)


@router.post("/sites", response_model=Site, status_code=201, responses=problem_responses(409), summary="Add a site")
def add_site(key: auth.Operator, context: Context, body: SiteCreate) -> Site:
    with context.connection() as conn:
        return Site(**_site_fields(create_site(conn, SiteRecord(tenant_id=key.tenant_id, **body.model_dump()))))


@router.get("/sites/{site_id}", response_model=Site, responses=problem_responses(404), summary="One site")
def read_site(key: auth.Reader, context: Context, site_id: SiteIdPath) -> Site:
    with context.connection() as conn:
        return Site(**_site_fields(get_site(conn, key.tenant_id, site_id)))


@router.get("/robots", response_model=RobotPage, summary="The tenant's robots")
def list_robots(
    key: auth.Reader,
    context: Context,
    site_id: SiteIdQuery = None,
    manufacturer: Text = None,
    model: Text = None,
    sort: RobotsSort = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> RobotPage:
    with context.connection() as conn:
        page = list_page(
            conn,
            ROBOTS,
            key.tenant_id,
            filters={"site_id": site_id, "manufacturer": manufacturer, "model": model},
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    return RobotPage(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/robots",
    response_model=RobotRegistered,
    status_code=201,
    responses=problem_responses(404, 409),
    summary="Register a robot; the answer carries its MQTT login, shown once",
)
def add_robot(key: auth.Operator, context: Context, body: RobotCreate) -> RobotRegistered:
    with context.connection() as conn, conn.transaction():
        row = register_robot(conn, RobotRecord(tenant_id=key.tenant_id, **body.model_dump()))
        credential = issue_mqtt_credential(conn, key.tenant_id, body.robot_id)
    return RobotRegistered(robot=Robot(**_robot_fields(row)), mqtt=MqttCredentialOut(**vars(credential)))


@router.get("/robots/{robot_id}", response_model=Robot, responses=problem_responses(404), summary="One robot")
def read_robot(key: auth.Reader, context: Context, robot_id: RobotIdPath) -> Robot:
    with context.connection() as conn:
        return Robot(**_robot_fields(get_robot(conn, key.tenant_id, robot_id)))


@router.post(
    "/robots/{robot_id}/mqtt-credential",
    response_model=MqttCredentialOut,
    status_code=201,
    responses=problem_responses(404),
    summary="Issue the robot a new MQTT login (the old one stops working)",
)
def rotate_mqtt_credential(key: auth.Operator, context: Context, robot_id: RobotIdPath) -> MqttCredentialOut:
    with context.connection() as conn, conn.transaction():
        get_robot(conn, key.tenant_id, robot_id)
        return MqttCredentialOut(**vars(issue_mqtt_credential(conn, key.tenant_id, robot_id)))


def _site_fields(row: dict) -> dict:
    return {name: row[name] for name in Site.model_fields}


def _robot_fields(row: dict) -> dict:
    return {name: row[name] for name in Robot.model_fields}
