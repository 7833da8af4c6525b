"""Per-robot MQTT credentials, and the Mosquitto password and ACL files written from them.

Each robot logs in as ``{tenant}/{robot}``. The password is shown once; the stored hash uses
Mosquitto's own PBKDF2-SHA512 format (``$7$``), so ``mosquitto_password_file`` can hand the broker
every robot's login without anyone knowing a password, and the ACL's ``%u`` pattern confines each
login to ``fr/v1/{tenant}/{robot}/...``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import psycopg

from fleetray.schemas.topics import MQTT_PREFIX

PBKDF2_ITERATIONS = 101  # Mosquitto's default for $7$ hashes; the passwords are 192 random bits
SALT_BYTES = 12


@dataclass(frozen=True)
class MqttCredential:
    """A robot's MQTT login; ``password`` is shown once and stored nowhere."""

    username: str
    password: str
    topic_prefix: str


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``password`` hashed the way ``mosquitto_passwd`` writes it."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_hash(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return kind == "7" and hmac.compare_digest(candidate, expected)


def issue_mqtt_credential(conn: psycopg.Connection, tenant_id: str, robot_id: str) -> MqttCredential:
    """A new MQTT login for a registered robot; an earlier one stops working (rotation)."""
    username = f"{tenant_id}/{robot_id}"
    password = secrets.token_urlsafe(24)
    conn.execute(
        """
        INSERT INTO robot_credentials (tenant_id, robot_id, username, password_hash) VALUES (%s, %s, %s, %s)
        ON CONFLICT (tenant_id, robot_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, created_at = now()
        """,
        (tenant_id, robot_id, username, mosquitto_hash(password)),
    )
    return MqttCredential(username, password, f"{MQTT_PREFIX}/{tenant_id}/{robot_id}/")


def mosquitto_password_file(conn: psycopg.Connection, platform_users: dict[str, str]) -> str:
    """Every robot's login, and the platform's own logins (name -> password), as a Mosquitto ``password_file``."""
    rows = conn.execute("SELECT username, password_hash FROM robot_credentials ORDER BY username").fetchall()
    rows += [(name, mosquitto_hash(password)) for name, password in sorted(platform_users.items())]
    return "".join(f"{username}:{password_hash}\n" for username, password_hash in rows)


def mosquitto_acl(platform_users: list[str]) -> str:
    """A Mosquitto ``acl_file``: robots reach only their own topics; ``platform_users`` reach all of them."""
    lines = ["# written by fleetray: robots log in as {tenant}/{robot}", ""]
    for user in platform_users:
        lines += [f"user {user}", f"topic readwrite {MQTT_PREFIX}/#", ""]
    lines += [
        "# every other login: its own robot's prefix, publishing up and reading commands and config",
        f"pattern write {MQTT_PREFIX}/%u/#",
        f"pattern read {MQTT_PREFIX}/%u/cmd",
        f"pattern read {MQTT_PREFIX}/%u/config",
        "",
    ]
    return "\n".join(lines)
