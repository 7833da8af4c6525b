"""API keys: issued once, stored hashed, scoped to a tenant and a role, expiring and revocable.

A key reads ``fr_{key_id}_{secret}``. The key id finds the row; only a SHA-256 of the secret is
stored, and it is compared in constant time. Secrets are 256 random bits, so a fast hash is the
right one here: a slow password hash defends guessable passwords and would cost every API request
milliseconds for nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import ConfigError

_TOKEN = re.compile(r"^fr_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is refreshed at most this often


class Role(StrEnum):
    """What a key may do; ``device`` keys belong to one robot and reach only the device routes."""

    ADMIN = "admin"
    OPERATOR = "operator"
    PLANNER = "planner"
    VIEWER = "viewer"
    DEVICE = "device"


@dataclass(frozen=True)
class ApiKey:
    """A key as the platform knows it (never its secret)."""

    key_id: str
    tenant_id: str
    role: Role
    robot_id: str | None
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable_at(self, moment: datetime) -> bool:
        """Neither revoked nor expired at ``moment``."""
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``token`` is shown once and stored nowhere."""

    key: ApiKey
    token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: dict) -> ApiKey:
    return ApiKey(
        row["key_id"],
        row["tenant_id"],
        Role(row["role"]),
        row["robot_id"],
        row["description"],
        row["created_at"],
        row["expires_at"],
        row["revoked_at"],
        row["last_used_at"],
    )


def create_key(
    conn: psycopg.Connection,
    tenant_id: str,
    role: Role | str,
    *,
    robot_id: str | None = None,
    description: str = "",
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Issue a key for ``tenant_id`` with ``role``.

    Raises:
        ConfigError: the role is unknown, a device key names no robot (or another role names one),
            the expiry is not in the future, or the tenant or robot does not exist.
    """
    try:
        role = Role(role)
    except ValueError:
        raise ConfigError(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if (role is Role.DEVICE) != (robot_id is not None):
        raise ConfigError("a device key needs --robot, and only a device key may name one")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ConfigError(f"expires_at {expires_at.isoformat()} is not in the future")
    if conn.execute("SELECT 1 FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone() is None:
        raise ConfigError(f"tenant {tenant_id!r} does not exist")
    if (
        robot_id is not None
        and conn.execute(
            "SELECT 1 FROM robots WHERE tenant_id = %s AND robot_id = %s", (tenant_id, robot_id)
        ).fetchone()
        is None
    ):
        raise ConfigError(f"robot {robot_id!r} is not registered with tenant {tenant_id!r}")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """
            INSERT INTO api_keys (key_id, tenant_id, key_hash, role, robot_id, description, expires_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *
            """,
            (key_id, tenant_id, _hash(secret), role.value, robot_id, description, expires_at),
        ).fetchone()
    return IssuedKey(_key(row), f"fr_{key_id}_{secret}")


def verify_key(conn: psycopg.Connection, token: str, *, now: datetime | None = None) -> ApiKey | None:
    """The key a token belongs to, if it is well formed, matches, and is neither revoked nor expired.

    Every failure answers None alike, so a caller cannot tell a wrong secret from an unknown key.
    """
    match = _TOKEN.match(token)
    if match is None:
        return None
    key_id, secret = match.groups()
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], _hash(secret)):
        return None
    key = _key(row)
    moment = now or datetime.now(UTC)
    if not key.usable_at(moment):
        return None
    if key.last_used_at is None or moment - key.last_used_at >= LAST_USED_RESOLUTION:
        conn.execute("UPDATE api_keys SET last_used_at = %s WHERE key_id = %s", (moment, key_id))
    return key


def list_keys(conn: psycopg.Connection, tenant_id: str) -> list[ApiKey]:
    """A tenant's keys, newest first (without secrets or hashes)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM api_keys WHERE tenant_id = %s ORDER BY created_at DESC, key_id", (tenant_id,)
        ).fetchall()
    return [_key(row) for row in rows]


def revoke_key(conn: psycopg.Connection, tenant_id: str, key_id: str) -> bool:
    """Revoke one of the tenant's keys; False if the tenant has no such active key."""
    revoked = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = %s AND key_id = %s AND revoked_at IS NULL",
        (tenant_id, key_id),
    )
    return revoked.rowcount == 1
