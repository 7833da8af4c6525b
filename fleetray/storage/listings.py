"""What each listed resource exposes: columns, filters and sort orders (see :mod:`fleetray.storage.paging`)."""

from __future__ import annotations

from fleetray.storage.paging import Listing

SITES = Listing(
    table="sites",
    columns=("site_id", "name", "timezone", "latitude", "longitude", "area_m2", "metadata", "created_at"),
    key=("site_id",),
    sortable=("site_id", "created_at"),
    default_sort="site_id",
    casts={"created_at": "timestamptz"},
)

ROBOTS = Listing(
    table="robots",
    columns=("robot_id", "manufacturer", "model", "serial", "site_id", "capabilities", "metadata", "created_at"),
    key=("robot_id",),
    sortable=("robot_id", "created_at", "model"),
    default_sort="robot_id",
    filters={"site_id": "site_id", "manufacturer": "manufacturer", "model": "model"},
    casts={"created_at": "timestamptz"},
)

EVENTS = Listing(
    table="events",
    columns=("robot_id", "seq", "ts", "level", "code", "message", "component"),
    key=("robot_id", "seq"),
    sortable=("ts",),
    default_sort="-ts",
    filters={"robot_id": "robot_id", "level": "level", "code": "code", "component": "component"},
    time_column="ts",
    casts={"ts": "timestamptz", "seq": "bigint"},
)

ALERTS = Listing(
    table="alerts",
    columns=(
        "alert_id",
        "robot_id",
        "rule",
        "severity",
        "state",
        "message",
        "details",
        "raised_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
    ),
    key=("alert_id",),
    sortable=("raised_at", "alert_id"),
    default_sort="-raised_at",
    filters={"robot_id": "robot_id", "rule": "rule", "severity": "severity", "state": "state"},
    time_column="raised_at",
    casts={"raised_at": "timestamptz", "alert_id": "bigint"},
)

TASKS = Listing(
    table="tasks",
    columns=(
        "task_id",
        "robot_id",
        "site_id",
        "area_id",
        "status",
        "area_m2",
        "cleaned_m2",
        "progress",
        "efficiency",
        "reason",
        "assigned_at",
        "started_at",
        "finished_at",
        "updated_at",
    ),
    key=("task_id",),
    sortable=("updated_at", "task_id"),
    default_sort="-updated_at",
    filters={"robot_id": "robot_id", "site_id": "site_id", "status": "status"},
    time_column="updated_at",
    casts={"updated_at": "timestamptz"},
)

MAINTENANCE = Listing(
    table="maintenance_records",
    columns=("record_id", "robot_id", "component", "kind", "reason", "performed_at", "usage_h", "notes"),
    key=("record_id",),
    sortable=("performed_at", "record_id"),
    default_sort="-performed_at",
    filters={"robot_id": "robot_id", "component": "component", "kind": "kind", "reason": "reason"},
    time_column="performed_at",
    casts={"performed_at": "timestamptz", "record_id": "bigint"},
)

API_KEYS = Listing(
    table="api_keys",
    columns=("key_id", "role", "robot_id", "description", "created_at", "expires_at", "revoked_at", "last_used_at"),
    key=("key_id",),
    sortable=("created_at", "key_id"),
    default_sort="-created_at",
    filters={"role": "role", "robot_id": "robot_id"},
    casts={"created_at": "timestamptz"},
)

WEBHOOK_SUBSCRIPTIONS = Listing(
    table="webhook_subscriptions",
    columns=("subscription_id", "url", "alert_rules", "min_severity", "description", "active", "created_at"),
    key=("subscription_id",),
    sortable=("subscription_id",),
    default_sort="subscription_id",
    casts={"subscription_id": "bigint"},
)

WEBHOOK_DELIVERIES = Listing(
    table="webhook_deliveries",
    columns=(
        "delivery_id",
        "subscription_id",
        "event_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ),
    key=("delivery_id",),
    sortable=("delivery_id",),
    default_sort="-delivery_id",
    filters={"subscription_id": "subscription_id", "status": "status"},
    casts={"delivery_id": "bigint"},
)
