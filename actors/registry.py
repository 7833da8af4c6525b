"""Which shard owns a robot, what the registry knows of robots, and each tenant's alert thresholds."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

import psycopg
from psycopg.rows import dict_row

from actors.alerts import AlertPolicy
from actors.shard_state import RobotInfo
from fleetray.errors import ConfigError


@functools.lru_cache(maxsize=1 << 17)
def shard_of(tenant_id: str, robot_id: str, shard_count: int) -> int:
    """The shard owning a robot: a stable hash (the same in every process and Python version).

    Cached: ingestors route every message, and a fleet is a bounded set of robots.
    """
    digest = hashlib.blake2b(f"{tenant_id}/{robot_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


def shard_layout(conn: psycopg.Connection, requested: int) -> int:
    """The shard count robots are assigned with, recorded on first start.

    Raises:
        ConfigError: ``requested`` differs from the recorded count; moving robots between shards
            must be explicit, not a side effect of a restart with another setting.
    """
    conn.execute(
        "INSERT INTO shard_layout (layout_id, shard_count) VALUES (1, %s) ON CONFLICT DO NOTHING", (requested,)
    )
    recorded = conn.execute("SELECT shard_count FROM shard_layout WHERE layout_id = 1").fetchone()[0]
    if recorded != requested:
        raise ConfigError(
            f"the fleet is laid out over {recorded} shards, not {requested}: start with --shards {recorded}, "
            f"or move robots explicitly with `fleetray shards reshard {requested}`"
        )
    return recorded


def set_shard_layout(conn: psycopg.Connection, shard_count: int) -> int:
    """Record a new shard count; return the old one. Shards must be restarted to take it up."""
    if shard_count < 1:
        raise ConfigError(f"shard count must be at least 1, got {shard_count}")
    old = conn.execute("SELECT shard_count FROM shard_layout WHERE layout_id = 1").fetchone()
    conn.execute(
        "INSERT INTO shard_layout (layout_id, shard_count) VALUES (1, %s) "
        "ON CONFLICT (layout_id) DO UPDATE SET shard_count = EXCLUDED.shard_count, updated_at = now()",
        (shard_count,),
    )
    return old[0] if old else shard_count


def load_robots(conn: psycopg.Connection, *, where: str = "TRUE", params: tuple = ()) -> list[RobotInfo]:
    """Registered robots (optionally filtered) with the metadata shards enrich with."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT tenant_id, robot_id, site_id, manufacturer, model, metadata FROM robots WHERE {where}", params
        )
        return [
            RobotInfo(
                row["tenant_id"],
                row["robot_id"],
                row["site_id"],
                row["manufacturer"],
                row["model"],
                {k: float(v) for k, v in (row["metadata"] or {}).get("current_limits", {}).items()},
            )
            for row in cur
        ]


def robots_owned(conn: psycopg.Connection, shard_index: int, shard_count: int) -> list[RobotInfo]:
    """The registered robots a shard owns."""
    return [r for r in load_robots(conn) if shard_of(r.tenant_id, r.robot_id, shard_count) == shard_index]


def lookup_robots(conn: psycopg.Connection, keys: Iterable[tuple[str, str]]) -> list[RobotInfo]:
    """The registered robots among ``keys``."""
    listed = list(keys)
    return load_robots(
        conn,
        where="(tenant_id, robot_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        params=([t for t, _ in listed], [r for _, r in listed]),
    )


def load_policies(conn: psycopg.Connection) -> dict[tuple[str, str], AlertPolicy]:
    """Alert thresholds per (tenant, model); model '*' applies to all of a tenant's robots."""
    policies = {}
    for tenant_id, model, overrides in conn.execute("SELECT tenant_id, model, overrides FROM alert_policies"):
        policies[(tenant_id, model)] = AlertPolicy(**overrides)
    return policies


def policy_lookup(policies: dict[tuple[str, str], AlertPolicy]):
    """A function giving the policy of a (tenant, model): model-specific, else tenant-wide, else default."""
    default = AlertPolicy()

    def policy_for(tenant_id: str, model: str) -> AlertPolicy:
        return policies.get((tenant_id, model)) or policies.get((tenant_id, "*")) or default

    return policy_for
